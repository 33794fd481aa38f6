package cluster

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/testkit"
	"github.com/conclave-go/conclave/membership"
)

func running(nodes []*testNode, except ...*testNode) []*testNode {
	var out []*testNode
	for _, n := range nodes {
		if !slices.Contains(except, n) {
			out = append(out, n)
		}
	}
	return out
}

func statusIn(n *testNode, name string) membership.Status {
	for _, m := range n.Members() {
		if m.Name == name {
			return m.Status
		}
	}
	return membership.StatusNone
}

func TestLeaveOfLeaderAndFollower(t *testing.T) {
	nodes := startServers(t, 5)
	lead := leaderOf(t, nodes)
	_, err := lead.Apply(testkit.Context(t, 10*time.Second), []byte("set before leave"))
	require.NoError(t, err)

	require.NoError(t, lead.Leave(testkit.Context(t, 20*time.Second)))
	rest := running(nodes, lead)
	next := leaderOf(t, rest)
	require.NotEqual(t, lead.Name(), next.Name())
	testkit.WaitFor(t, 10*time.Second, func() bool {
		_, in := configOf(t, leaderOf(t, rest))[lead.Name()]
		return !in
	}, "old leader removed from the configuration")
	testkit.WaitFor(t, 10*time.Second, func() bool { return statusIn(rest[0], lead.Name()) == membership.StatusLeft },
		"gossip records a graceful leave")

	var follower *testNode
	for _, n := range rest {
		if n.Name() != next.Name() {
			follower = n
			break
		}
	}
	require.NoError(t, follower.Leave(testkit.Context(t, 20*time.Second)))
	rest = running(rest, follower)
	testkit.WaitFor(t, 10*time.Second, func() bool {
		cfg := configOf(t, leaderOf(t, rest))
		return len(cfg) == 3 && voters(cfg) == 3
	}, "3 voters after two leaves")
	got, err := rest[0].Query(testkit.Context(t, 10*time.Second), 0, []byte("before"))
	require.NoError(t, err)
	require.Equal(t, "leave", string(got))
}

func TestDeadVoterIsReplacedWithoutLosingQuorum(t *testing.T) {
	nodes := startServers(t, 3)
	leaderOf(t, nodes)
	seed := nodes[0].Local().Address()
	spare := addServer(t, "s3", seed, nil)
	nodes = append(nodes, spare)
	testkit.WaitFor(t, 30*time.Second, func() bool { return voters(configOf(t, leaderOf(t, nodes))) == 4 }, "4 voters")

	lead := leaderOf(t, nodes)
	victim := nodes[followerIndex(nodes, lead)]
	require.NoError(t, victim.Close())
	rest := running(nodes, victim)
	// After the dead-server timeout the leader removes the victim: 3 voters
	// remain, which is the MinQuorum (BootstrapExpect) and never crossed.
	testkit.WaitFor(t, 60*time.Second, func() bool {
		cfg := configOf(t, leaderOf(t, rest))
		_, in := cfg[victim.Name()]
		return !in && voters(cfg) == 3
	}, "dead voter removed")
	_, err := rest[0].Apply(testkit.Context(t, 10*time.Second), []byte("set after removal"))
	require.NoError(t, err)

	// A second death must not shrink the configuration below MinQuorum.
	lead = leaderOf(t, rest)
	var second *testNode
	for _, n := range rest {
		if n != lead {
			second = n
			break
		}
	}
	require.NoError(t, second.Close())
	rest = running(rest, second)
	deadline := time.Now().Add(2 * nodes[0].server.DeadServerTimeout)
	for time.Now().Before(deadline) {
		cfg := configOf(t, lead)
		require.Equal(t, 3, voters(cfg), "never below MinQuorum")
		time.Sleep(200 * time.Millisecond)
	}
}
