package faultnet_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/conclave-go/conclave/internal/faultnet"
)

func TestKillClosesEverySocketAndFreesThePorts(t *testing.T) {
	n := newNet(t)
	a, b := n.Host("a"), n.Host("b")
	l, err := b.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	pb := udpSocket(t, b)
	aDialed, bAccepted := dialVia(t, a, l)
	bDialed, aAccepted := streamPair(t, b, a)
	// A stream that is still flushing after Close dies too.
	require.NoError(t, n.Pause("a"))
	write(t, bDialed, "never")
	require.NoError(t, bDialed.Close())

	b.Kill()

	_, err = l.Accept()
	require.ErrorIs(t, err, net.ErrClosed)
	_, err = recv(pb, patience)
	require.ErrorIs(t, err, net.ErrClosed)
	_, err = bAccepted.Read(make([]byte, 1))
	require.ErrorIs(t, err, net.ErrClosed)
	require.NoError(t, n.Resume("a"))
	requireClosedByPeer(t, aDialed)
	requireClosedByPeer(t, aAccepted)

	// The ports are free, and the restarted host owns them again.
	l2, err := b.Listen("tcp", l.Addr().String())
	require.NoError(t, err)
	defer l2.Close()
	pb2, err := b.ListenPacket("udp", pb.LocalAddr().String())
	require.NoError(t, err)
	defer pb2.Close()
	require.NoError(t, n.Isolate("b"))
	requireUnreachable(t, a, l2.Addr().String())
	send(t, udpSocket(t, a), pb2, "lost")
	require.Equal(t, uint64(1), n.LinkStats("a", "b").PacketsDropped)
}

// requireClosedByPeer requires c to see the end of the stream (EOF or reset)
// before any data.
func requireClosedByPeer(t *testing.T, c net.Conn) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(patience)))
	k, err := c.Read(make([]byte, 16))
	require.Zero(t, k)
	require.Error(t, err)
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "read timed out: %v", err)
}

func TestCloseStopsEverythingAndLeavesNoGoroutine(t *testing.T) {
	n := faultnet.New(7, nil)
	a, b := n.Host("a"), n.Host("b")
	pa, err := a.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	pb, err := b.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	l, err := b.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c // closed by Network.Close
		}
	}()
	c, err := dial(a, l.Addr().String())
	require.NoError(t, err)

	require.NoError(t, n.SetDelay(time.Hour, 0))
	_, err = pa.WriteTo([]byte("delayed"), pb.LocalAddr())
	require.NoError(t, err)
	require.NoError(t, n.SetDelay(0, 0))
	require.NoError(t, n.Isolate("b"))
	_, err = c.Write([]byte("stalled"))
	require.NoError(t, err)
	require.NoError(t, c.Close()) // lingers: its bytes are stalled

	require.NoError(t, n.Close())
	require.NoError(t, n.Close())
	goleak.VerifyNone(t)

	_, err = a.Listen("tcp", "127.0.0.1:0")
	require.ErrorIs(t, err, faultnet.ErrClosed)
	_, err = a.ListenPacket("udp", "127.0.0.1:0")
	require.ErrorIs(t, err, faultnet.ErrClosed)
	_, err = dial(a, l.Addr().String())
	require.ErrorIs(t, err, faultnet.ErrClosed)
	_, err = pa.WriteTo([]byte("x"), pb.LocalAddr())
	require.Error(t, err)
}

func TestDialHonoursTheContextDuringTheHandshakeDelay(t *testing.T) {
	n := newNet(t)
	l, err := n.Host("b").Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	require.NoError(t, n.SetDelay(time.Hour, 0))

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = n.Host("a").Dial(ctx, "tcp", l.Addr().String())
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestInvalidArgumentsAreRejected(t *testing.T) {
	n := newNet(t)
	for name, err := range map[string]error{
		"no groups":          n.Partition(),
		"empty in group":     n.Partition([]string{"a", ""}),
		"name in two groups": n.Partition([]string{"a"}, []string{"b", "a"}),
		"isolate empty":      n.Isolate(""),
		"cut empty":          n.Cut("a", ""),
		"cut self":           n.Cut("a", "a"),
		"loss below 0":       n.SetLoss(-0.1),
		"loss above 1":       n.SetLoss(1.5),
		"loss NaN":           n.SetLoss(math.NaN()),
		"link loss":          n.SetLinkLoss("a", "b", 2),
		"link loss self":     n.SetLinkLoss("a", "a", 0.5),
		"negative delay":     n.SetDelay(-time.Second, 0),
		"negative jitter":    n.SetDelay(0, -time.Second),
		"link delay":         n.SetLinkDelay("a", "b", -1, 0),
		"pause empty":        n.Pause(""),
		"resume empty":       n.Resume(""),
	} {
		require.Error(t, err, name)
	}
	require.NoError(t, n.Resume("never paused"))
	require.NoError(t, n.Isolate("not created yet"))

	_, err := faultnet.NewWithConfig(faultnet.Config{RetransmitTimeout: -1})
	require.ErrorContains(t, err, "RetransmitTimeout")
	_, err = faultnet.NewWithConfig(faultnet.Config{StreamBuffer: -1})
	require.ErrorContains(t, err, "StreamBuffer")
}

// TestTrafficSurvivesFaultChurn sends datagrams and stream bytes while the
// faults change at random, then heals and checks that every stream byte
// arrived, in order.
func TestTrafficSurvivesFaultChurn(t *testing.T) {
	n := newNet(t)
	hosts := []string{"a", "b", "c"}
	socks := make([]net.PacketConn, len(hosts))
	for i, h := range hosts {
		socks[i] = udpSocket(t, n.Host(h))
	}
	dialed, accepted := streamPair(t, n.Host("a"), n.Host("b"))

	const messages = 300
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		sprayDatagrams(stop, socks)
	}()
	go func() {
		defer wg.Done()
		for i := range messages {
			if _, err := fmt.Fprintf(dialed, "%04d", i); err != nil {
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		churnFaults(n, hosts, 100)
	}()

	for i := range messages {
		mustRead(t, accepted, fmt.Sprintf("%04d", i))
	}
	close(stop)
	wg.Wait()
}

// sprayDatagrams sends datagrams around the ring of socks until stop.
func sprayDatagrams(stop <-chan struct{}, socks []net.PacketConn) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		src, dst := socks[i%len(socks)], socks[(i+1)%len(socks)]
		_, _ = src.WriteTo([]byte("x"), dst.LocalAddr())
		_, _ = recv(dst, time.Millisecond)
	}
}

// churnFaults applies steps random fault changes among three hosts, then
// removes every fault.
func churnFaults(n *faultnet.Network, hosts []string, steps int) {
	rng := rand.New(rand.NewPCG(1, 2))
	healAll := func() {
		n.Heal()
		for _, h := range hosts {
			_ = n.Resume(h)
		}
	}
	for range steps {
		switch rng.IntN(6) {
		case 0:
			_ = n.Partition(hosts[:1], hosts[1:])
		case 1:
			from := rng.IntN(3)
			_ = n.Cut(hosts[from], hosts[(from+1+rng.IntN(2))%3])
		case 2:
			_ = n.Pause(hosts[rng.IntN(3)])
		case 3:
			_ = n.SetLoss(rng.Float64() / 2)
		case 4:
			_ = n.SetDelay(time.Duration(rng.IntN(3))*time.Millisecond, time.Millisecond)
		default:
			healAll()
		}
		time.Sleep(time.Millisecond) // pacing for the churn, not synchronisation
	}
	healAll()
	_ = n.SetLoss(0)
	_ = n.SetDelay(0, 0)
}
