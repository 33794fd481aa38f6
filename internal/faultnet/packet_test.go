package faultnet_test

import (
	"fmt"
	"math"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/faultnet"
	"github.com/conclave-go/conclave/internal/testkit"
)

func TestPartitionDropsDatagramsBothWaysAndHealRestores(t *testing.T) {
	n := newNet(t)
	a, b, c := udpSocket(t, n.Host("a")), udpSocket(t, n.Host("b")), udpSocket(t, n.Host("c"))

	require.NoError(t, n.Partition([]string{"a"}, []string{"b", "c"}))
	send(t, a, b, "a->b lost")
	send(t, b, a, "b->a lost")
	send(t, b, c, "b->c")
	mustRecv(t, c, "b->c")
	require.Equal(t, uint64(1), n.LinkStats("a", "b").PacketsDropped)
	require.Equal(t, uint64(1), n.LinkStats("b", "a").PacketsDropped)

	n.Heal()
	send(t, a, b, "a->b")
	send(t, b, a, "b->a")
	// The first datagram each side sees is the one sent after Heal.
	mustRecv(t, b, "a->b")
	mustRecv(t, a, "b->a")
}

func TestPartitionIsolatesUnlistedHosts(t *testing.T) {
	n := newNet(t)
	a, b, c := udpSocket(t, n.Host("a")), udpSocket(t, n.Host("b")), udpSocket(t, n.Host("c"))

	require.NoError(t, n.Partition([]string{"a", "b"}))
	send(t, a, c, "lost")
	send(t, c, b, "lost")
	send(t, a, b, "a->b")
	mustRecv(t, b, "a->b")
	require.Equal(t, uint64(2), n.Stats().PacketsDropped)
}

func TestIsolateCutsEveryLinkOfTheHost(t *testing.T) {
	n := newNet(t)
	a, b, c := udpSocket(t, n.Host("a")), udpSocket(t, n.Host("b")), udpSocket(t, n.Host("c"))

	require.NoError(t, n.Isolate("b"))
	send(t, a, b, "lost")
	send(t, b, c, "lost")
	send(t, a, c, "a->c")
	mustRecv(t, c, "a->c")
	require.Equal(t, uint64(1), n.LinkStats("a", "b").PacketsDropped)
	require.Equal(t, uint64(1), n.LinkStats("b", "c").PacketsDropped)

	n.Heal()
	send(t, a, b, "a->b")
	mustRecv(t, b, "a->b")
}

func TestCutIsOneWay(t *testing.T) {
	n := newNet(t)
	a, b := udpSocket(t, n.Host("a")), udpSocket(t, n.Host("b"))

	require.NoError(t, n.Cut("a", "b"))
	send(t, a, b, "lost")
	send(t, b, a, "b->a")
	mustRecv(t, a, "b->a")
	requireNoPacket(t, b)

	n.Heal()
	send(t, a, b, "a->b")
	mustRecv(t, b, "a->b")
}

func TestStatsCountDatagramBytesSentEvenWhenDropped(t *testing.T) {
	n := newNet(t)
	a, b := udpSocket(t, n.Host("a")), udpSocket(t, n.Host("b"))
	send(t, a, b, "hello")
	mustRecv(t, b, "hello")
	require.NoError(t, n.Cut("a", "b"))
	send(t, a, b, "lost")
	send(t, b, a, "b->a")
	mustRecv(t, a, "b->a")

	require.Equal(t, uint64(len("hello")+len("lost")), n.LinkStats("a", "b").PacketBytesSent)
	require.Equal(t, uint64(len("b->a")), n.LinkStats("b", "a").PacketBytesSent)
	require.Equal(t, uint64(len("hello")+len("lost")+len("b->a")), n.Stats().PacketBytesSent)
}

// sendPaced sends count datagrams from src to dst and returns which ones were
// delivered, reading each delivered datagram before sending the next so that
// the receiving socket's buffer never overflows.
func sendPaced(t *testing.T, n *faultnet.Network, src, dst net.PacketConn, count int) []bool {
	t.Helper()
	delivered := make([]bool, count)
	for i := range count {
		before := n.Stats().PacketsDelivered
		send(t, src, dst, fmt.Sprint(i))
		if n.Stats().PacketsDelivered > before {
			mustRecv(t, dst, fmt.Sprint(i))
			delivered[i] = true
		}
	}
	return delivered
}

func TestLossRateMatchesTheAskedProbability(t *testing.T) {
	const (
		count = 2000
		p     = 0.3
	)
	n := newNet(t)
	a, b := udpSocket(t, n.Host("a")), udpSocket(t, n.Host("b"))
	require.NoError(t, n.SetLoss(p))

	delivered := sendPaced(t, n, a, b, count)

	st := n.LinkStats("a", "b")
	require.Equal(t, uint64(count), st.PacketsSent)
	require.Equal(t, st.PacketsSent, st.PacketsDropped+st.PacketsDelivered)
	got := 0
	for _, d := range delivered {
		if d {
			got++
		}
	}
	require.Equal(t, int(st.PacketsDelivered), got, "every datagram counted as delivered arrived")
	// Drops are Binomial(count, p): allow four standard deviations (about 82
	// of 2000 here), which a fair coin exceeds with probability < 1e-4.
	sigma := math.Sqrt(count * p * (1 - p))
	require.InDelta(t, count*p, float64(st.PacketsDropped), 4*sigma)
	require.InDelta(t, p, st.LossRate(), 4*sigma/count)
}

func TestLinkLossOverridesGlobalLoss(t *testing.T) {
	n := newNet(t)
	a, b := udpSocket(t, n.Host("a")), udpSocket(t, n.Host("b"))
	require.NoError(t, n.SetLoss(1))
	require.NoError(t, n.SetLinkLoss("a", "b", 0))

	for i := range 20 {
		send(t, a, b, fmt.Sprint(i))
		send(t, b, a, "lost")
		mustRecv(t, b, fmt.Sprint(i))
	}
	require.Equal(t, uint64(20), n.LinkStats("b", "a").PacketsDropped)
	require.Zero(t, n.LinkStats("a", "b").PacketsDropped)

	n.ClearLinkFaults()
	send(t, a, b, "lost")
	require.Equal(t, uint64(1), n.LinkStats("a", "b").PacketsDropped)
}

func TestSameSeedMakesSameDropDecisions(t *testing.T) {
	run := func(seed int64) []bool {
		n := faultnet.New(seed, nil)
		defer n.Close()
		a, b := udpSocket(t, n.Host("a")), udpSocket(t, n.Host("b"))
		require.NoError(t, n.SetLoss(0.5))
		return sendPaced(t, n, a, b, 200)
	}
	first := run(42)
	require.Equal(t, first, run(42))
	require.NotEqual(t, first, run(43))
}

func TestDelayDelaysDatagrams(t *testing.T) {
	const delay = 80 * time.Millisecond
	n := newNet(t)
	a, b := udpSocket(t, n.Host("a")), udpSocket(t, n.Host("b"))
	require.NoError(t, n.SetDelay(delay, 20*time.Millisecond))

	start := time.Now()
	send(t, a, b, "late")
	mustRecv(t, b, "late")
	require.GreaterOrEqual(t, time.Since(start), delay)
	require.Equal(t, uint64(1), n.LinkStats("a", "b").PacketsDelayed)

	// A per-link delay applies to its own direction only.
	require.NoError(t, n.SetDelay(0, 0))
	require.NoError(t, n.SetLinkDelay("a", "b", delay, 0))
	send(t, b, a, "prompt")
	mustRecv(t, a, "prompt")
	require.Zero(t, n.LinkStats("b", "a").PacketsDelayed)
	start = time.Now()
	send(t, a, b, "late again")
	mustRecv(t, b, "late again")
	require.GreaterOrEqual(t, time.Since(start), delay)
}

func TestPauseHoldsDatagramsAndResumeDeliversThemInOrder(t *testing.T) {
	n := newNet(t)
	a, b := udpSocket(t, n.Host("a")), udpSocket(t, n.Host("b"))

	require.NoError(t, n.Pause("b"))
	for i := range 10 {
		send(t, a, b, fmt.Sprint("a", i))
	}
	for i := range 3 {
		send(t, b, a, fmt.Sprint("b", i))
	}
	requireNoPacket(t, b)
	requireNoPacket(t, a)
	require.Equal(t, uint64(10), n.LinkStats("a", "b").PacketsHeld)
	require.Equal(t, uint64(3), n.LinkStats("b", "a").PacketsHeld)

	require.NoError(t, n.Resume("b"))
	for i := range 10 {
		mustRecv(t, b, fmt.Sprint("a", i))
	}
	for i := range 3 {
		mustRecv(t, a, fmt.Sprint("b", i))
	}
}

func TestPauseCatchesDatagramsInFlight(t *testing.T) {
	n := newNet(t)
	a, b := udpSocket(t, n.Host("a")), udpSocket(t, n.Host("b"))
	require.NoError(t, n.SetDelay(time.Second, 0))

	send(t, a, b, "in flight")
	require.NoError(t, n.Pause("b"))
	testkit.WaitFor(t, patience, func() bool { return n.LinkStats("a", "b").PacketsHeld == 1 }, "one packet held")
	requireNoPacket(t, b)
	require.NoError(t, n.Resume("b"))
	mustRecv(t, b, "in flight")
}

func TestDatagramsToUnknownAddressesPassThrough(t *testing.T) {
	n := newNet(t)
	a := udpSocket(t, n.Host("a"))
	outside, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer outside.Close()

	require.NoError(t, n.Isolate("a"))
	send(t, a, outside, "hello")
	mustRecv(t, outside, "hello")
	require.Zero(t, n.Stats().PacketsSent)
}

func TestKillDropsQueuedDatagrams(t *testing.T) {
	n := newNet(t)
	a, b := udpSocket(t, n.Host("a")), udpSocket(t, n.Host("b"))

	require.NoError(t, n.SetDelay(time.Hour, 0))
	send(t, a, b, "delayed")
	n.Host("a").Kill()
	require.Equal(t, uint64(1), n.LinkStats("a", "b").PacketsDropped)

	require.NoError(t, n.SetDelay(0, 0))
	require.NoError(t, n.Pause("b"))
	send(t, b, b, "to self, unfiltered")
	mustRecv(t, b, "to self, unfiltered")
	c := udpSocket(t, n.Host("c"))
	send(t, c, b, "held")
	n.Host("b").Kill()
	require.Equal(t, uint64(1), n.LinkStats("c", "b").PacketsDropped)
}
