package rpc

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/conclave-go/conclave/internal/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// logBuf collects log output for assertions.
type logBuf struct{ testkit.SyncBuffer }

func (l *logBuf) contains(s string) bool { return strings.Contains(l.String(), s) }

func (l *logBuf) count(s string) int { return strings.Count(l.String(), s) }

// newTestLogger returns a debug-level logger into a buffer that is printed
// when the test fails.
func newTestLogger(t *testing.T) (*slog.Logger, *logBuf) {
	buf := &logBuf{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// trackingListener remembers the connections it accepted.
type trackingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

func (l *trackingListener) accepted() []net.Conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]net.Conn(nil), l.conns...)
}

func listenLocal(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return ln
}

// testServer is a Server on a loopback listener, closed at cleanup.
type testServer struct {
	srv  *Server
	ln   *trackingListener
	addr string
	logs *logBuf
	errc chan error
}

func startServer(t *testing.T, h Handler, cfg ServerConfig) *testServer {
	t.Helper()
	logger, logs := newTestLogger(t)
	cfg.Logger = logger
	ln := &trackingListener{Listener: listenLocal(t)}
	ts := &testServer{srv: mustServer(t, ln, h, cfg), ln: ln, addr: ln.Addr().String(), logs: logs, errc: make(chan error, 1)}
	go func() { ts.errc <- ts.srv.Serve() }()
	t.Cleanup(func() { ts.stop(t) })
	return ts
}

// stop closes the server and checks that Serve returned nil. Idempotent.
func (ts *testServer) stop(t *testing.T) {
	require.NoError(t, ts.srv.Close())
	select {
	case err, ok := <-ts.errc:
		if ok {
			require.NoError(t, err)
			close(ts.errc)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after Close")
	}
}

func plainDial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

func newTestClient(t *testing.T, cfg ClientConfig) *Client {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger, _ = newTestLogger(t)
	}
	c := mustClient(t, plainDial, cfg)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c
}

func mustClient(t testing.TB, dial func(context.Context, string) (net.Conn, error), cfg ClientConfig) *Client {
	t.Helper()
	c, err := NewClient(dial, cfg)
	require.NoError(t, err)
	return c
}

func mustServer(t testing.TB, ln net.Listener, h Handler, cfg ServerConfig) *Server {
	t.Helper()
	srv, err := NewServer(ln, h, cfg)
	require.NoError(t, err)
	return srv
}

func echo(_ context.Context, _ uint8, req []byte) ([]byte, error) { return req, nil }

func listenBench() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
