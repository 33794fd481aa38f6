package clustertest

import (
	"errors"
	"fmt"
	"math"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/internal/testkit"
	"github.com/conclave-go/conclave/membership"
)

// statusOf returns how node i sees node j in gossip.
func statusOf(c *Cluster, i, j int) membership.Status {
	for _, m := range c.Node(i).Members() {
		if m.Name == c.Name(j) {
			return m.Status
		}
	}
	return membership.StatusNone
}

func TestPartitionStopsTrafficBothWays(t *testing.T) {
	c := New(t, 3, testOpts(t, WithInMemory())...)
	c.Partition([]int{0}, []int{1, 2})
	before := [][2]Traffic{{c.Traffic(0, 1), c.Traffic(1, 0)}, {c.Traffic(0, 2), c.Traffic(2, 0)}}
	inside := c.Traffic(1, 2)

	c.WaitMembers(0, 1)
	c.WaitMembers(1, 2)
	c.WaitMembers(2, 2)
	c.WaitLeader(1, 2)
	for k, peer := range []int{1, 2} {
		out, in := c.Traffic(0, peer), c.Traffic(peer, 0)
		require.Equal(t, before[k][0].PacketsDelivered, out.PacketsDelivered, "0 -> %d delivered across the partition", peer)
		require.Equal(t, before[k][1].PacketsDelivered, in.PacketsDelivered, "%d -> 0 delivered across the partition", peer)
		require.Greater(t, out.PacketsDropped, before[k][0].PacketsDropped, "0 -> %d: nothing tried", peer)
		require.Greater(t, in.PacketsDropped, before[k][1].PacketsDropped, "%d -> 0: nothing tried", peer)
	}
	require.Greater(t, c.Traffic(1, 2).PacketsDelivered, inside.PacketsDelivered, "the majority side talks")

	c.Heal()
	for i := range 3 {
		c.WaitMembers(i, 3)
	}
	c.WaitLeader()
}

func TestCutIsOneWay(t *testing.T) {
	c := New(t, 3, testOpts(t, WithInMemory())...)
	c.Cut(0, 1)
	fwd, back := c.Traffic(0, 1), c.Traffic(1, 0)
	c.WaitFor(func() bool {
		return c.Traffic(0, 1).PacketsDropped > fwd.PacketsDropped+5 &&
			c.Traffic(1, 0).PacketsDelivered > back.PacketsDelivered+5
	}, "traffic both ways over the cut link")
	require.Equal(t, fwd.PacketsDelivered, c.Traffic(0, 1).PacketsDelivered, "0 -> 1 must be cut")
	require.Equal(t, back.PacketsDropped, c.Traffic(1, 0).PacketsDropped, "1 -> 0 must flow")
	require.Greater(t, c.Traffic(0, 1).DialsRefused+c.Traffic(1, 0).DialsRefused, uint64(0), "dials need both ways")
	c.Heal()
	c.WaitFor(func() bool { return c.Traffic(0, 1).PacketsDelivered > fwd.PacketsDelivered }, "0 -> 1 after heal")
}

func TestLossNearTheAskedRate(t *testing.T) {
	const p = 0.3
	c := New(t, 5, testOpts(t, WithInMemory(), WithSeed(7), WithServers(1))...)
	sum := func() (sent, dropped uint64) {
		for i := range 5 {
			for j := range 5 {
				if i != j {
					tr := c.Traffic(i, j)
					sent, dropped = sent+tr.PacketsSent, dropped+tr.PacketsDropped
				}
			}
		}
		return sent, dropped
	}
	c.SetLoss(p)
	sent0, dropped0 := sum()
	c.WaitFor(func() bool { s, _ := sum(); return s-sent0 >= 600 }, "600 datagrams under loss")
	c.SetLoss(0)
	sent1, dropped1 := sum()
	rate := float64(dropped1-dropped0) / float64(sent1-sent0)
	t.Logf("loss %.3f over %d datagrams, asked %.2f", rate, sent1-sent0, p)
	require.InDelta(t, p, rate, 4*math.Sqrt(p*(1-p)/float64(sent1-sent0)))
}

func TestKillThenRestartKeepsData(t *testing.T) {
	c := New(t, 3, testOpts(t)...)
	h := NewHistory()
	cl := h.NewClient()
	lead := c.WaitLeader()
	for i := range 20 {
		require.NoError(t, cl.Put(testkit.Context(t, 10*time.Second), c.Node(lead), fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i)))
	}
	follower := (lead + 1) % 3
	c.WaitApplied()
	logged := c.Node(follower).Consensus().Status().LastLogIndex
	c.Isolate(follower) // faults stick to the name: the restart below is cut off too
	c.Kill(follower)
	require.False(t, c.Running(follower))
	_, err := c.Node(follower).Apply(testkit.Context(t, time.Second), KVRequest{Op: OpPut, Key: "x"}.Encode())
	require.Error(t, err, "a killed node serves nothing")
	require.NoError(t, cl.Put(testkit.Context(t, 10*time.Second), c.Node(lead), "while-down", "yes"))
	c.Restart(follower)
	st := c.Node(follower).Consensus().Status()
	require.True(t, st.HasState, "the restarted node reopened its data dir")
	require.GreaterOrEqual(t, st.LastLogIndex, logged, "its log came back from disk")
	c.Heal()

	// Crash every node, then bring them all back from their data dirs.
	for i := range 3 {
		c.Kill(i)
	}
	for i := range 3 {
		c.Restart(i)
	}
	c.WaitLeader()
	c.WaitApplied()
	for i := range 3 {
		v, ok := c.StateMachine(i).(*KV).Get("while-down")
		require.True(t, ok && v == "yes", "node %d lost an acknowledged write", i)
	}
	require.NoError(t, h.ReadFinal(testkit.Context(t, 20*time.Second), c.Node(follower)))
	r := c.Check(h)
	require.True(t, r.Passed(), r.String())
	require.Equal(t, 42, r.OK, "21 puts and 21 final reads")
}

func TestPauseHoldsThenResumeDelivers(t *testing.T) {
	c := New(t, 3, testOpts(t, WithInMemory())...)
	c.Pause(0)
	out := c.Traffic(0, 1)
	c.WaitMembers(1, 2) // node-1 finds node-0 unresponsive
	paused := c.Traffic(0, 1)
	require.Equal(t, out.PacketsDelivered, paused.PacketsDelivered, "nothing crosses while paused")
	require.Equal(t, out.PacketsDropped, paused.PacketsDropped, "a pause holds; it does not drop")
	held := paused.PacketsHeld - out.PacketsHeld
	require.Positive(t, held)

	c.Resume(0)
	c.WaitFor(func() bool {
		return c.Traffic(0, 1).PacketsDelivered >= out.PacketsDelivered+held
	}, "the held datagrams delivered")
	for i := range 3 {
		c.WaitMembers(i, 3)
	}
	c.WaitLeader()
}

func TestStopLeavesAndRestartRejoins(t *testing.T) {
	c := New(t, 3, testOpts(t, WithInMemory())...)
	lead := c.WaitLeader()
	c.Stop(lead)
	rest := c.Except(lead)
	c.WaitFor(func() bool {
		return statusOf(c, rest[0], lead) == membership.StatusLeft && statusOf(c, rest[1], lead) == membership.StatusLeft
	}, "the others to see a graceful leave")
	next := c.WaitLeader()
	require.NotEqual(t, lead, next)
	servers, err := c.Node(next).Consensus().Configuration(testkit.Context(t, 5*time.Second))
	require.NoError(t, err)
	require.Len(t, servers, 2, "the leaver is out of the Raft configuration")

	c.Restart(lead)
	c.WaitMembers(lead, 3)
	c.WaitFor(func() bool {
		servers, err := c.Node(next).Consensus().Configuration(testkit.Context(t, 5*time.Second))
		return err == nil && len(servers) == 3 && servers[0].Suffrage == consensus.Voter &&
			servers[1].Suffrage == consensus.Voter && servers[2].Suffrage == consensus.Voter
	}, "the leader to add the server back as a voter")
}

func TestClientNodes(t *testing.T) {
	c := New(t, 3, testOpts(t, WithServers(2), WithInMemory())...)
	require.Equal(t, []int{0, 1}, c.Servers())
	require.False(t, c.IsServer(2))
	require.Nil(t, c.StateMachine(2))
	require.NoError(t, Put(testkit.Context(t, 10*time.Second), c.Node(2), "from", "client"))
	c.Kill(2)
	c.Restart(2)
	c.WaitMembers(2, 3)
	v, ok, err := Get(testkit.Context(t, 10*time.Second), c.Node(2), consensus.Linearizable, "from")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "client", v)
}

func TestStartWithoutATest(t *testing.T) {
	c, err := Start(1, WithInMemory(), WithTimeout(time.Second))
	require.NoError(t, err)
	require.NoError(t, c.Kill(0))
	require.ErrorIs(t, c.Kill(0), ErrNotRunning)
	require.ErrorIs(t, c.Partition([]int{7}), ErrBadIndex)
	err = c.WaitFor(func() bool { return false }, "never")
	require.ErrorIs(t, err, ErrTimeout)
	require.Contains(t, err.Error(), "never")
	require.Equal(t, -1, c.WaitLeader())
	require.NoError(t, c.Restart(0))
	require.GreaterOrEqual(t, c.WaitLeader(), 0)
	require.Len(t, c.Faults(), 2)
	require.NoError(t, c.Close())
	require.NoError(t, c.Close())
	require.ErrorIs(t, c.Restart(0), ErrClosed)

	d, err := Start(1)
	require.NoError(t, err)
	dir := d.slots[0].dir
	require.DirExists(t, dir)
	require.NoError(t, d.Close())
	_, err = os.Stat(dir)
	require.True(t, errors.Is(err, os.ErrNotExist), "Close removes the data dirs: %v", err)
}

func TestLeaderMonitorFlagsTwoLeadersInATerm(t *testing.T) {
	m := newLeaderMonitor()
	m.observe(3, "a", "test")
	m.observe(3, "a", "test")
	m.observe(4, "b", "test")
	require.NoError(t, m.err())
	m.observe(4, "c", "test")
	require.ErrorIs(t, m.err(), ErrInvariant)
	require.Contains(t, m.err().Error(), "term 4 led by b and by c")
}
