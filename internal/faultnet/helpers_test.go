package faultnet_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/conclave-go/conclave/internal/faultnet"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// patience bounds every wait for something that must happen; polls return as
// soon as it does.
const patience = 10 * time.Second

// quiet is how long a test watches for traffic that must not arrive. It is a
// lower bound only: a held or dropped message never arrives, however slow
// the machine.
const quiet = 150 * time.Millisecond

// testWriter sends log lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// newNet returns a Network closed at the end of the test, with a short
// retransmission timeout.
func newNet(t *testing.T) *faultnet.Network {
	t.Helper()
	cfg := faultnet.DefaultConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	cfg.RetransmitTimeout = 100 * time.Millisecond
	n, err := faultnet.NewWithConfig(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, n.Close()) })
	return n
}

// udpSocket binds a datagram socket of h on loopback.
func udpSocket(t *testing.T, h *faultnet.Host) net.PacketConn {
	t.Helper()
	pc, err := h.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = pc.Close() })
	return pc
}

// send writes msg from pc to dst.
func send(t *testing.T, pc net.PacketConn, dst net.PacketConn, msg string) {
	t.Helper()
	k, err := pc.WriteTo([]byte(msg), dst.LocalAddr())
	require.NoError(t, err)
	require.Equal(t, len(msg), k)
}

// recv reads one datagram from pc within timeout.
func recv(pc net.PacketConn, timeout time.Duration) (string, error) {
	if err := pc.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return "", err
	}
	buf := make([]byte, 2048)
	k, _, err := pc.ReadFrom(buf)
	return string(buf[:k]), err
}

// mustRecv reads the next datagram and requires it to be want.
func mustRecv(t *testing.T, pc net.PacketConn, want string) {
	t.Helper()
	got, err := recv(pc, patience)
	require.NoError(t, err)
	require.Equal(t, want, got)
}

// requireNoPacket requires that nothing arrives on pc for a while.
func requireNoPacket(t *testing.T, pc net.PacketConn) {
	t.Helper()
	got, err := recv(pc, quiet)
	require.Truef(t, errors.Is(err, os.ErrDeadlineExceeded), "got %q, %v; want nothing", got, err)
}

// streamPair dials from -> to and returns the dialed and the accepted end.
func streamPair(t *testing.T, from, to *faultnet.Host) (dialed, accepted net.Conn) {
	t.Helper()
	l, err := to.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	return dialVia(t, from, l)
}

// dialVia dials l from h and accepts the connection.
func dialVia(t *testing.T, h *faultnet.Host, l net.Listener) (dialed, accepted net.Conn) {
	t.Helper()
	acc := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(acc)
			return
		}
		acc <- c
	}()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	dialed, err := h.Dial(ctx, "tcp", l.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = dialed.Close() })
	accepted, ok := <-acc
	require.True(t, ok, "accept failed")
	t.Cleanup(func() { _ = accepted.Close() })
	return dialed, accepted
}

// write writes msg to c.
func write(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	k, err := c.Write([]byte(msg))
	require.NoError(t, err)
	require.Equal(t, len(msg), k)
}

// mustRead reads exactly len(want) bytes and requires them to be want.
func mustRead(t *testing.T, c net.Conn, want string) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(patience)))
	buf := make([]byte, len(want))
	_, err := io.ReadFull(c, buf)
	require.NoError(t, err)
	require.Equal(t, want, string(buf))
}

// requireNoData requires that nothing (not even EOF) arrives on c for a while.
func requireNoData(t *testing.T, c net.Conn) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(quiet)))
	buf := make([]byte, 64)
	k, err := c.Read(buf)
	var ne net.Error
	require.Truef(t, errors.As(err, &ne) && ne.Timeout(), "got %q, %v; want a timeout", buf[:k], err)
	require.Zero(t, k)
}

// dial dials address from h with a bounded context.
func dial(h *faultnet.Host, address string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	return h.Dial(ctx, "tcp", address)
}

// requireUnreachable requires a dial from h to address to fail as across a cut.
func requireUnreachable(t *testing.T, h *faultnet.Host, address string) {
	t.Helper()
	c, err := dial(h, address)
	if c != nil {
		_ = c.Close()
	}
	require.ErrorIs(t, err, faultnet.ErrUnreachable)
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "dial error %v is not a timeout", err)
}
