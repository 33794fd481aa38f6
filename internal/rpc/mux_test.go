package rpc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/rpc/rpctest"
	"github.com/conclave-go/conclave/internal/testkit"
)

// testMux is a serving Mux plus a log buffer, closed at cleanup.
type testMux struct {
	*Mux
	logs *logBuf
	errc chan error
}

func startMux(t *testing.T, cfg MuxConfig, bytes ...byte) (*testMux, map[byte]net.Listener) {
	t.Helper()
	logger, logs := newTestLogger(t)
	cfg.Logger = logger
	m, err := NewMux(listenLocal(t), cfg)
	require.NoError(t, err)
	subs := make(map[byte]net.Listener)
	for _, b := range bytes {
		subs[b] = m.Listen(b)
	}
	tm := &testMux{Mux: m, logs: logs, errc: make(chan error, 1)}
	go func() { tm.errc <- m.Serve() }()
	t.Cleanup(func() { tm.stop(t) })
	return tm, subs
}

func (tm *testMux) stop(t *testing.T) {
	require.NoError(t, tm.Close())
	select {
	case err, ok := <-tm.errc:
		if ok {
			require.NoError(t, err)
			close(tm.errc)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after Close")
	}
}

// serveGreeting accepts on ln and answers every connection with greeting
// followed by what it reads (one line of up to 64 bytes), counting accepts.
func serveGreeting(t *testing.T, ln net.Listener, greeting string) *atomic.Int32 {
	var accepted atomic.Int32
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				buf := make([]byte, 64)
				n, _ := c.Read(buf)
				_, _ = c.Write(append([]byte(greeting), buf[:n]...))
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	return &accepted
}

// exchange writes msg on c and returns everything read until EOF.
func exchange(t *testing.T, c net.Conn, msg string) (string, error) {
	t.Helper()
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	return string(b), err
}

func dialByte(t *testing.T, addr string, b byte, conf *tls.Config) (net.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := DialByte(ctx, nil, addr, b, conf)
	if err == nil {
		t.Cleanup(func() { _ = c.Close() })
	}
	return c, err
}

func TestMuxRoutesByFirstByte(t *testing.T) {
	m, subs := startMux(t, MuxConfig{}, 'A', 'B')
	require.Equal(t, m.Addr(), subs['A'].Addr())
	serveGreeting(t, subs['A'], "A:")
	serveGreeting(t, subs['B'], "B:")

	for _, b := range []byte{'A', 'B', 'A'} {
		c, err := dialByte(t, m.Addr().String(), b, nil)
		require.NoError(t, err)
		got, err := exchange(t, c, "ping")
		require.NoError(t, err)
		require.Equal(t, string(b)+":ping", got)
	}
}

func TestMuxUnknownByteIsClosed(t *testing.T) {
	m, subs := startMux(t, MuxConfig{}, 'A')
	accepted := serveGreeting(t, subs['A'], "A:")

	c, err := dialByte(t, m.Addr().String(), 'Z', nil)
	require.NoError(t, err)
	got, _ := exchange(t, c, "ping")
	require.Empty(t, got, "the connection must be closed without an answer")
	testkit.WaitFor(t, 10*time.Second, func() bool { return m.logs.contains("unknown protocol byte 90") })
	require.True(t, m.logs.contains("remote=127.0.0.1:"), "the log names the peer")
	require.Zero(t, accepted.Load())
}

func TestMuxSilentPeerClosedAfterHeaderTimeout(t *testing.T) {
	m, _ := startMux(t, MuxConfig{HeaderTimeout: 200 * time.Millisecond}, 'A')
	c, err := net.Dial("tcp", m.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err = c.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "the mux closes a peer that sends nothing")
	testkit.WaitFor(t, 10*time.Second, func() bool { return m.logs.contains("no protocol byte within the header timeout") })
}

func TestMuxSlowPeerDoesNotStallOthers(t *testing.T) {
	m, subs := startMux(t, MuxConfig{HeaderTimeout: time.Minute}, 'A')
	serveGreeting(t, subs['A'], "A:")
	for range 3 { // silent peers hold their routing goroutines, not the accept loop
		c, err := net.Dial("tcp", m.Addr().String())
		require.NoError(t, err)
		defer c.Close()
	}
	c, err := dialByte(t, m.Addr().String(), 'A', nil)
	require.NoError(t, err)
	got, err := exchange(t, c, "ping")
	require.NoError(t, err)
	require.Equal(t, "A:ping", got)
}

func TestMuxCloseWaitsAndFreesThePort(t *testing.T) {
	m, subs := startMux(t, MuxConfig{HeaderTimeout: time.Minute}, 'A')
	addr := m.Addr().String()
	silent, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer silent.Close()
	testkit.WaitFor(t, 10*time.Second, func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return len(m.pending) == 1
	})

	acceptErr := make(chan error, 1)
	go func() {
		_, err := subs['A'].Accept()
		acceptErr <- err
	}()

	m.stop(t) // Close returned and Serve returned nil
	require.ErrorIs(t, <-acceptErr, net.ErrClosed)
	require.NoError(t, silent.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err = silent.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "a connection not handed off is closed by Close")

	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err, "the port is free again")
	require.NoError(t, ln.Close())
	require.NoError(t, m.Close(), "Close is idempotent")
	_, err = m.Listen('B').Accept()
	require.ErrorIs(t, err, net.ErrClosed)
}

func TestMuxSubListenerCloseStopsOnlyIt(t *testing.T) {
	m, subs := startMux(t, MuxConfig{}, 'A', 'B')
	serveGreeting(t, subs['B'], "B:")
	require.NoError(t, subs['A'].Close())
	_, err := subs['A'].Accept()
	require.ErrorIs(t, err, net.ErrClosed)

	c, err := dialByte(t, m.Addr().String(), 'A', nil)
	require.NoError(t, err)
	got, _ := exchange(t, c, "ping")
	require.Empty(t, got)

	c, err = dialByte(t, m.Addr().String(), 'B', nil)
	require.NoError(t, err)
	got, err = exchange(t, c, "ping")
	require.NoError(t, err)
	require.Equal(t, "B:ping", got)

	again := m.Listen('A') // the byte can be registered again
	serveGreeting(t, again, "A2:")
	c, err = dialByte(t, m.Addr().String(), 'A', nil)
	require.NoError(t, err)
	got, err = exchange(t, c, "ping")
	require.NoError(t, err)
	require.Equal(t, "A2:ping", got)
}

func TestMuxDuplicateListen(t *testing.T) {
	m, _ := startMux(t, MuxConfig{}, 'A')
	dup := m.Listen('A')
	_, err := dup.Accept()
	require.ErrorIs(t, err, ErrListenerInUse)
	require.NoError(t, dup.Close())
}

func TestMuxMaxPending(t *testing.T) {
	m, _ := startMux(t, MuxConfig{HeaderTimeout: time.Minute, MaxPending: 1}, 'A')
	first, err := net.Dial("tcp", m.Addr().String())
	require.NoError(t, err)
	defer first.Close()
	testkit.WaitFor(t, 10*time.Second, func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return len(m.pending) == 1
	})
	second, err := net.Dial("tcp", m.Addr().String())
	require.NoError(t, err)
	defer second.Close()
	require.NoError(t, second.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err = second.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF)
	require.True(t, m.logs.contains("too many connections"))
}

func TestMuxConfigValidation(t *testing.T) {
	for cfg, want := range map[*MuxConfig]string{
		{HeaderTimeout: -1}: "MuxConfig.HeaderTimeout",
		{MaxPending: -1}:    "MuxConfig.MaxPending",
	} {
		ln := listenLocal(t)
		m, err := NewMux(ln, *cfg)
		require.ErrorContains(t, err, want)
		require.Nil(t, m)
		require.NoError(t, ln.Close(), "a refused listener stays the caller's")
	}
	_, err := NewMux(nil, MuxConfig{})
	require.ErrorContains(t, err, "listener is nil")
	require.NoError(t, DefaultMuxConfig().Validate())
}

func TestDialByteHonoursContext(t *testing.T) {
	// A listener that accepts and never answers: the TLS handshake stalls.
	ln := listenLocal(t)
	defer ln.Close()
	var held []net.Conn
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		_ = ln.Close()
		<-done
		mu.Lock()
		for _, c := range held {
			_ = c.Close()
		}
		mu.Unlock()
	}()

	ca := rpctest.NewCA(t)
	node := ca.Issue(t, "node")
	_, clientConf, err := MutualTLS(ca.CertPEM, node.CertPEM, node.KeyPEM, "node")
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = DialByte(ctx, nil, ln.Addr().String(), 'A', clientConf)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 10*time.Second)

	ctx, cancel = context.WithCancel(context.Background())
	go func() {
		testkit.WaitFor(t, 10*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(held) == 2
		})
		cancel()
	}()
	_, err = DialByte(ctx, nil, ln.Addr().String(), 'A', clientConf)
	require.ErrorIs(t, err, context.Canceled)

	_, err = DialByte(context.Background(), nil, "127.0.0.1:1", 'A', nil)
	require.Error(t, err)
}

// tlsFixture holds the certificates of the TLS mux tests.
type tlsFixture struct {
	server, client *tls.Config // good node
	foreign        *tls.Config // client with a certificate from another CA
	noCert         *tls.Config // client trusting the CA but presenting nothing
	expired        *tls.Config // client with an expired certificate
}

func newTLSFixture(t *testing.T) tlsFixture {
	ca, other := rpctest.NewCA(t), rpctest.NewCA(t)
	node := ca.Issue(t, "node-1", "127.0.0.1")
	server, client, err := MutualTLS(ca.CertPEM, node.CertPEM, node.KeyPEM, "node-1")
	require.NoError(t, err)

	stranger := other.Issue(t, "node-x")
	_, foreign, err := MutualTLS(ca.CertPEM, stranger.CertPEM, stranger.KeyPEM, "node-1")
	require.NoError(t, err)

	noCert := client.Clone()
	noCert.Certificates = nil

	old := ca.IssueExpired(t, "node-2")
	_, expired, err := MutualTLS(ca.CertPEM, old.CertPEM, old.KeyPEM, "node-1")
	require.NoError(t, err)
	return tlsFixture{server: server, client: client, foreign: foreign, noCert: noCert, expired: expired}
}

// refused reports whether the mux turned the connection away: dialling
// fails, or the first exchange yields nothing.
func refused(t *testing.T, addr string, conf *tls.Config) bool {
	c, err := dialByte(t, addr, 'A', conf)
	if err != nil {
		return true
	}
	got, _ := exchange(t, c, "ping")
	return got == ""
}

func TestMuxMutualTLS(t *testing.T) {
	fx := newTLSFixture(t)
	m, subs := startMux(t, MuxConfig{TLS: fx.server}, 'A')
	accepted := serveGreeting(t, subs['A'], "A:")
	addr := m.Addr().String()

	require.True(t, refused(t, addr, fx.foreign), "certificate from another CA")
	require.True(t, refused(t, addr, fx.noCert), "no client certificate")
	require.True(t, refused(t, addr, fx.expired), "expired certificate")
	require.True(t, refused(t, addr, nil), "plaintext client")
	testkit.WaitFor(t, 10*time.Second, func() bool { return m.logs.count("tls handshake failed") == 4 })
	require.Zero(t, accepted.Load(), "no refused connection reached the protocol listener")

	c, err := dialByte(t, addr, 'A', fx.client)
	require.NoError(t, err)
	_, isTLS := c.(*tls.Conn)
	require.True(t, isTLS)
	got, err := exchange(t, c, "ping")
	require.NoError(t, err)
	require.Equal(t, "A:ping", got)
	require.EqualValues(t, 1, accepted.Load())
}

func TestDialByteVerifiesServer(t *testing.T) {
	fx := newTLSFixture(t)
	m, subs := startMux(t, MuxConfig{TLS: fx.server}, 'A')
	serveGreeting(t, subs['A'], "A:")

	wrongName := fx.client.Clone()
	wrongName.ServerName = "node-9"
	_, err := dialByte(t, m.Addr().String(), 'A', wrongName)
	var badName x509.HostnameError
	require.ErrorAs(t, err, &badName, "the server's certificate does not name node-9")

	// With no ServerName, the host of the dialled address is verified; the
	// node certificate carries 127.0.0.1.
	byAddr := fx.client.Clone()
	byAddr.ServerName = ""
	c, err := dialByte(t, m.Addr().String(), 'A', byAddr)
	require.NoError(t, err)
	got, err := exchange(t, c, "ping")
	require.NoError(t, err)
	require.Equal(t, "A:ping", got)

	// A client trusting another CA refuses the server.
	other := rpctest.NewCA(t)
	stranger := other.Issue(t, "x")
	_, distrustful, err := MutualTLS(other.CertPEM, stranger.CertPEM, stranger.KeyPEM, "node-1")
	require.NoError(t, err)
	_, err = dialByte(t, m.Addr().String(), 'A', distrustful)
	var unknownAuthority x509.UnknownAuthorityError
	require.ErrorAs(t, err, &unknownAuthority)
}

func TestMutualTLSRejectsBadMaterial(t *testing.T) {
	ca := rpctest.NewCA(t)
	node := ca.Issue(t, "n")
	_, _, err := MutualTLS([]byte("junk"), node.CertPEM, node.KeyPEM, "n")
	require.ErrorContains(t, err, "no CA certificate")
	_, _, err = MutualTLS(ca.CertPEM, node.CertPEM, []byte("junk"), "n")
	require.ErrorContains(t, err, "certificate and key")
	srv, cli, err := MutualTLS(ca.CertPEM, node.CertPEM, node.KeyPEM, "n")
	require.NoError(t, err)
	require.Equal(t, tls.RequireAndVerifyClientCert, srv.ClientAuth)
	require.EqualValues(t, tls.VersionTLS12, srv.MinVersion)
	require.EqualValues(t, tls.VersionTLS12, cli.MinVersion)
	require.Equal(t, "n", cli.ServerName)
}

func TestMuxClosesConnectionNobodyAccepts(t *testing.T) {
	m, _ := startMux(t, MuxConfig{HeaderTimeout: 200 * time.Millisecond}, 'A') // no Accept loop
	c, err := dialByte(t, m.Addr().String(), 'A', nil)
	require.NoError(t, err)
	got, _ := exchange(t, c, "ping")
	require.Empty(t, got)
	testkit.WaitFor(t, 10*time.Second, func() bool { return m.logs.contains("did not accept within the header timeout") })
}
