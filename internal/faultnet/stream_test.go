package faultnet_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/faultnet"
)

func TestPartitionStallsStreamsAndHealDeliversTheStalledBytes(t *testing.T) {
	n := newNet(t)
	a, b := n.Host("a"), n.Host("b")
	l, err := b.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	dialed, accepted := dialVia(t, a, l)
	la, err := a.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer la.Close()

	require.NoError(t, n.Partition([]string{"a"}, []string{"b"}))
	write(t, dialed, "ping")
	write(t, accepted, "pong")
	requireNoData(t, accepted)
	requireNoData(t, dialed)
	requireUnreachable(t, a, l.Addr().String())
	requireUnreachable(t, b, la.Addr().String())
	require.Equal(t, uint64(1), n.LinkStats("a", "b").DialsRefused)

	n.Heal()
	mustRead(t, accepted, "ping")
	mustRead(t, dialed, "pong")
	dialVia(t, a, l)
}

func TestCutStallsOneDirectionOfAStream(t *testing.T) {
	n := newNet(t)
	a, b := n.Host("a"), n.Host("b")
	aToB, bAccepted := streamPair(t, a, b)
	bToA, aAccepted := streamPair(t, b, a)

	require.NoError(t, n.Cut("a", "b"))
	// Bytes from b reach a on both connections, whoever dialed.
	write(t, bAccepted, "b1")
	write(t, bToA, "b2")
	mustRead(t, aToB, "b1")
	mustRead(t, aAccepted, "b2")
	// Bytes from a stall on both.
	write(t, aToB, "a1")
	write(t, aAccepted, "a2")
	requireNoData(t, bAccepted)
	requireNoData(t, bToA)
	// A handshake needs both directions.
	l, err := b.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	requireUnreachable(t, a, l.Addr().String())

	n.Heal()
	mustRead(t, bAccepted, "a1")
	mustRead(t, bToA, "a2")
}

func TestStreamDelayDelaysBothDirectionsWithoutSerialising(t *testing.T) {
	const delay = 100 * time.Millisecond
	n := newNet(t)
	a, b := n.Host("a"), n.Host("b")
	l, err := b.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	require.NoError(t, n.SetDelay(delay, 10*time.Millisecond))

	start := time.Now()
	dialed, accepted := dialVia(t, a, l)
	require.GreaterOrEqual(t, time.Since(start), 2*delay, "a dial waits one round trip")

	start = time.Now()
	write(t, dialed, "ping")
	mustRead(t, accepted, "ping")
	require.GreaterOrEqual(t, time.Since(start), delay)
	start = time.Now()
	write(t, accepted, "pong")
	mustRead(t, dialed, "pong")
	require.GreaterOrEqual(t, time.Since(start), delay)

	// Twenty writes in a row are all in flight together: serialised they
	// would take 20 delays (2 s).
	const writes = 20
	msg := strings.Repeat("x", 1024)
	start = time.Now()
	for range writes {
		write(t, dialed, msg)
	}
	mustRead(t, accepted, strings.Repeat(msg, writes))
	elapsed := time.Since(start)
	require.GreaterOrEqual(t, elapsed, delay)
	require.Less(t, elapsed, writes*delay/2)
	require.Positive(t, n.LinkStats("a", "b").StreamBytesDelayed)
}

func TestStreamLossIsARetransmissionDelay(t *testing.T) {
	n := newNet(t) // RetransmitTimeout 100 ms
	dialed, accepted := streamPair(t, n.Host("a"), n.Host("b"))
	require.NoError(t, n.SetLoss(1))

	start := time.Now()
	write(t, dialed, "resent")
	mustRead(t, accepted, "resent")
	require.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
	start = time.Now()
	write(t, accepted, "resent too")
	mustRead(t, dialed, "resent too")
	require.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
	require.Equal(t, uint64(1), n.LinkStats("a", "b").StreamRetransmits)
	require.Positive(t, n.LinkStats("b", "a").StreamRetransmits)
}

func TestPauseHoldsStreamBytesAndResumeDeliversThemInOrder(t *testing.T) {
	n := newNet(t)
	a, b := n.Host("a"), n.Host("b")
	l, err := b.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	dialed, accepted := dialVia(t, a, l)

	require.NoError(t, n.Pause("b"))
	for _, s := range []string{"1", "2", "3"} {
		write(t, dialed, s)
	}
	write(t, accepted, "x")
	write(t, accepted, "y")
	requireNoData(t, accepted)
	requireNoData(t, dialed)
	// The paused host's kernel still completes handshakes.
	late, lateAccepted := dialVia(t, a, l)
	write(t, late, "late")
	requireNoData(t, lateAccepted)

	require.NoError(t, n.Resume("b"))
	mustRead(t, accepted, "123")
	mustRead(t, dialed, "xy")
	mustRead(t, lateAccepted, "late")
}

func TestStalledWriteHonoursItsDeadline(t *testing.T) {
	cfg := faultnet.DefaultConfig()
	cfg.StreamBuffer = 64 << 10
	n, err := faultnet.NewWithConfig(cfg)
	require.NoError(t, err)
	defer n.Close()
	dialed, _ := streamPair(t, n.Host("a"), n.Host("b"))

	require.NoError(t, n.Isolate("b"))
	require.NoError(t, dialed.SetWriteDeadline(time.Now().Add(quiet)))
	k, err := dialed.Write(make([]byte, 1<<20))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout())
	require.Less(t, k, 1<<20)
	require.GreaterOrEqual(t, k, 64<<10)
}

func TestCloseFlushesQueuedBytes(t *testing.T) {
	n := newNet(t)
	dialed, accepted := streamPair(t, n.Host("a"), n.Host("b"))

	require.NoError(t, n.SetDelay(50*time.Millisecond, 0))
	write(t, dialed, "bye")
	require.NoError(t, dialed.Close())
	mustRead(t, accepted, "bye")
	_, err := accepted.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF)

	// The end of the stream is held by a partition like the bytes before it.
	dialed, accepted = streamPair(t, n.Host("a"), n.Host("b"))
	require.NoError(t, n.Isolate("a"))
	write(t, dialed, "late")
	require.NoError(t, dialed.Close())
	requireNoData(t, accepted)
	n.Heal()
	mustRead(t, accepted, "late")
	_, err = accepted.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF)
}

func TestClosedStreamFailsLikeANetConn(t *testing.T) {
	n := newNet(t)
	dialed, accepted := streamPair(t, n.Host("a"), n.Host("b"))
	require.NoError(t, dialed.Close())

	_, err := dialed.Read(make([]byte, 1))
	require.ErrorIs(t, err, net.ErrClosed)
	_, err = dialed.Write([]byte("x"))
	require.ErrorIs(t, err, net.ErrClosed)
	require.Error(t, dialed.Close())
	_, err = accepted.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF)
}

func TestStreamCarriesLargeTransfersIntact(t *testing.T) {
	n := newNet(t)
	dialed, accepted := streamPair(t, n.Host("a"), n.Host("b"))
	require.NoError(t, n.SetDelay(time.Millisecond, time.Millisecond))
	require.NoError(t, n.SetLoss(0.01))

	payload := make([]byte, 8<<20)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	go func() {
		_, _ = dialed.Write(payload)
	}()
	require.NoError(t, accepted.SetReadDeadline(time.Now().Add(patience)))
	got := make([]byte, len(payload))
	_, err := io.ReadFull(accepted, got)
	require.NoError(t, err)
	require.True(t, bytes.Equal(payload, got))
}

func TestDialsToUnknownAddressesPassThrough(t *testing.T) {
	n := newNet(t)
	outside, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer outside.Close()
	go func() {
		c, err := outside.Accept()
		if err == nil {
			_, _ = c.Write([]byte("hi"))
			_ = c.Close()
		}
	}()

	require.NoError(t, n.Isolate("a"))
	c, err := dial(n.Host("a"), outside.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	mustRead(t, c, "hi")
}

func TestAddressesAreAttributedWhateverTheSpelling(t *testing.T) {
	n := newNet(t)
	l, err := n.Host("b").Listen("tcp", "0.0.0.0:0")
	require.NoError(t, err)
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, n.Isolate("b"))

	for _, addr := range []string{
		net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		net.JoinHostPort("localhost", strconv.Itoa(port)),
	} {
		requireUnreachable(t, n.Host("a"), addr)
	}
}
