package cluster

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/internal/testkit"
)

// configOf returns the leader's Raft configuration as id -> suffrage.
func configOf(t testing.TB, n *testNode) map[string]consensus.Suffrage {
	t.Helper()
	servers, err := n.Consensus().Configuration(testkit.Context(t, 5*time.Second))
	if err != nil {
		return nil
	}
	out := make(map[string]consensus.Suffrage, len(servers))
	for _, s := range servers {
		out[s.Name] = s.Suffrage
	}
	return out
}

func voters(cfg map[string]consensus.Suffrage) int {
	v := 0
	for _, s := range cfg {
		if s == consensus.Voter {
			v++
		}
	}
	return v
}

// addServer starts a server that joins an existing cluster (BootstrapExpect 0).
func addServer(t testing.TB, name, seed string, tweak func(*ConsensusConfig)) *testNode {
	dir := t.TempDir()
	cfg, fsm := serverConfig(t, name, dir, 0, seed)
	if tweak != nil {
		tweak(cfg.Consensus)
	}
	return &testNode{Node: startNode(t, cfg), fsm: fsm, dir: dir}
}

func TestBootstrapRacesFormOneCluster(t *testing.T) {
	for _, size := range []int{3, 5} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(size), 7))
			// Start servers in random order; each is seeded with one random
			// server started before it (the first with none), so the gossip
			// graph differs from run to run.
			order := rng.Perm(size)
			nodes := make([]*testNode, 0, size)
			for _, i := range order {
				var seeds []string
				if len(nodes) > 0 {
					seeds = []string{nodes[rng.IntN(len(nodes))].Local().Address()}
				}
				dir := t.TempDir()
				cfg, fsm := serverConfig(t, fmt.Sprintf("s%d", i), dir, size, seeds...)
				nodes = append(nodes, &testNode{Node: startNode(t, cfg), fsm: fsm, dir: dir})
			}
			lead := leaderOf(t, nodes)
			cfg := configOf(t, lead)
			require.Len(t, cfg, size)
			require.Equal(t, size, voters(cfg))
			// One configuration everywhere: every server's log agrees on it.
			for _, n := range nodes {
				testkit.WaitFor(t, 10*time.Second, func() bool {
					c, err := n.Consensus().Configuration(testkit.Context(t, time.Second))
					return err == nil && len(c) == size
				}, "%s sees the %d-server configuration", n.Name(), size)
			}
			_, err := nodes[0].Apply(testkit.Context(t, 10*time.Second), []byte("set k v"))
			require.NoError(t, err)
		})
	}
}

func TestMismatchedBootstrapExpectIsReported(t *testing.T) {
	cfgA, _ := serverConfig(t, "a", t.TempDir(), 2)
	a := startNode(t, cfgA)
	cfgB, _ := serverConfig(t, "b", t.TempDir(), 3, a.Local().Address())
	b := startNode(t, cfgB)
	testkit.WaitFor(t, 10*time.Second, func() bool {
		return a.bootstrapError() != "" && b.bootstrapError() != ""
	}, "both servers report the mismatch")
	require.Contains(t, a.bootstrapError(), "b expects 3")
	require.Zero(t, a.Leader().Name, "no cluster forms on disagreement")
	require.Zero(t, b.Leader().Name)
}

func TestGrowthAddsNonVotersAndPromotes(t *testing.T) {
	nodes := startServers(t, 3)
	leaderOf(t, nodes)
	seed := nodes[0].Local().Address()
	nodes = append(nodes, addServer(t, "s3", seed, nil), addServer(t, "s4", seed, nil))

	testkit.WaitFor(t, 30*time.Second, func() bool {
		cfg := configOf(t, leaderOf(t, nodes))
		return len(cfg) == 5 && voters(cfg) == 5
	}, "5 voters")
	_, err := nodes[4].Apply(testkit.Context(t, 10*time.Second), []byte("set grown yes"))
	require.NoError(t, err)
	require.NoError(t, nodes[4].Read(testkit.Context(t, 10*time.Second), consensus.Linearizable, func(consensus.StateMachine) error {
		require.Equal(t, "yes", nodes[4].fsm.get("grown"))
		return nil
	}))
}

func TestMaxVotersKeepsExtraServersAsNonVoters(t *testing.T) {
	nodes := startServers(t, 3)
	leaderOf(t, nodes)
	seed := nodes[0].Local().Address()
	nodes = append(nodes, addServer(t, "s3", seed, nil))
	testkit.WaitFor(t, 30*time.Second, func() bool {
		cfg := configOf(t, leaderOf(t, nodes))
		return len(cfg) == 4 && voters(cfg) == 4
	}, "4 voters")
	// The default cap is 5: a sixth server stays a non-voter.
	nodes = append(nodes, addServer(t, "s4", seed, nil), addServer(t, "s5", seed, nil))
	testkit.WaitFor(t, 30*time.Second, func() bool {
		cfg := configOf(t, leaderOf(t, nodes))
		return len(cfg) == 6 && voters(cfg) == 5
	}, "6 servers, 5 voters")
	cfg := configOf(t, leaderOf(t, nodes))
	nonVoters := 0
	for _, s := range cfg {
		if s == consensus.NonVoter {
			nonVoters++
		}
	}
	require.Equal(t, 1, nonVoters)
}
