package cluster

import (
	"github.com/conclave-go/conclave/internal/testkit"

	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/consensus"
)

// serverIn returns the named server of h, failing the test when it is absent.
func serverIn(t testing.TB, h Health, id string) ServerHealth {
	t.Helper()
	for _, s := range h.Servers {
		if s.Name == id {
			return s
		}
	}
	t.Fatalf("server %s not in health %+v", id, h)
	return ServerHealth{}
}

// waitHealth polls n's Health until cond holds and returns that Health.
func waitHealth(t testing.TB, n *Node, timeout time.Duration, cond func(Health) bool, what string) Health {
	t.Helper()
	var h Health
	testkit.WaitFor(t, timeout, func() bool {
		var err error
		h, err = n.Health(testkit.Context(t, 5*time.Second))
		return err == nil && cond(h)
	}, "%s", what)
	return h
}

func TestHealthReportsUnknownForUnreachableServer(t *testing.T) {
	nodes := startServers(t, 3)
	lead := leaderOf(t, nodes)
	var victim, other *testNode
	for _, n := range nodes {
		switch {
		case n == lead:
		case victim == nil:
			victim = n
		default:
			other = n
		}
	}
	_, err := lead.Apply(testkit.Context(t, 10*time.Second), []byte("set a 1"))
	require.NoError(t, err)
	for _, n := range []*testNode{lead, other} {
		waitHealth(t, n.Node, 20*time.Second, func(h Health) bool {
			for _, s := range h.Servers {
				if !s.Healthy || s.AppliedIndex == 0 {
					return false
				}
			}
			return h.HealthyVoters == 3
		}, "3 healthy voters that applied the write, seen by "+n.Name())
	}

	// Health reads the last group state: it asks no server, so even a
	// cancelled context gets an answer, with every server known.
	done, cancel := context.WithCancel(context.Background())
	cancel()
	h, err := lead.Health(done)
	require.NoError(t, err)
	for _, s := range h.Servers {
		require.True(t, s.Known, "server %s", s.Name)
		require.GreaterOrEqual(t, s.ReadAge, time.Duration(0))
	}

	require.NoError(t, victim.Close())
	for _, n := range []*testNode{lead, other} {
		h := waitHealth(t, n.Node, 20*time.Second, func(h Health) bool {
			return !serverIn(t, h, victim.Name()).Known
		}, "the victim reported unknown by "+n.Name())
		s := serverIn(t, h, victim.Name())
		require.NotEmpty(t, s.Error, "on %s", n.Name())
		require.Positive(t, s.ReadAge, "on %s: age of the last successful reading", n.Name())
		require.Equal(t, consensus.StateFollower, s.State, "on %s: as last read", n.Name())
		require.Positive(t, s.AppliedIndex, "on %s: as last read", n.Name())
		require.False(t, s.Healthy, "on %s", n.Name())
		require.True(t, s.HealthySince.IsZero(), "on %s", n.Name())
		require.Equal(t, lead.Name(), h.Leader.Name, "on %s", n.Name())
		require.Equal(t, 2, h.HealthyVoters, "on %s", n.Name())
	}
}

// TestHealthAgreesWithPromotion keeps a fourth server a non-voter (MaxVoters
// 3), then fails a voter: the reconciler gives the seat to the non-voter, and
// Health, reading the same state, calls it healthy for at least the
// stabilization time.
func TestHealthAgreesWithPromotion(t *testing.T) {
	maxThree := func(c *Config) { c.Consensus.MaxVoters = 3 }
	nodes := startServers(t, 3, maxThree)
	lead := leaderOf(t, nodes)
	cfg, fsm := serverConfig(t, "s3", t.TempDir(), 0, nodes[0].Local().Address())
	maxThree(&cfg)
	spare := &testNode{Node: startNode(t, cfg), fsm: fsm}

	stabilize := lead.server.ServerStabilizationTime
	h := waitHealth(t, lead.Node, 30*time.Second, func(h Health) bool {
		for _, s := range h.Servers {
			if s.Name == spare.Name() {
				return s.Healthy && time.Since(s.HealthySince)-h.Age >= stabilize
			}
		}
		return false
	}, "the spare healthy for the stabilization time")
	require.Equal(t, consensus.NonVoter, serverIn(t, h, spare.Name()).Suffrage, "MaxVoters keeps it a non-voter")
	require.Equal(t, 3, h.Voters)

	victim := nodes[followerIndex(nodes, lead)]
	require.NoError(t, victim.Close())
	h = waitHealth(t, lead.Node, 30*time.Second, func(h Health) bool {
		return serverIn(t, h, spare.Name()).Suffrage == consensus.Voter
	}, "the spare promoted")
	s := serverIn(t, h, spare.Name())
	require.True(t, s.Healthy, "the promoted server is healthy in Health")
	require.False(t, s.HealthySince.IsZero())
	for _, s := range h.Servers {
		if s.Name == victim.Name() {
			require.False(t, s.Healthy)
			require.False(t, s.Known)
		}
	}
}
