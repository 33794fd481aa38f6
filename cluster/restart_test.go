package cluster

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/internal/testkit"
)

// restart closes n without leaving and starts it again under the same name
// with the given data dir, on new ports, seeded with seed.
func restart(t *testing.T, n *testNode, dir, seed string) *testNode {
	t.Helper()
	require.NoError(t, n.Close())
	cfg, fsm := serverConfig(t, n.Name(), dir, n.server.BootstrapExpect, seed)
	return &testNode{Node: startNode(t, cfg), fsm: fsm, dir: dir}
}

func TestRestartKeepsSeatAndUpdatesAddress(t *testing.T) {
	nodes := startServers(t, 3)
	lead := leaderOf(t, nodes)
	for i := range 10 {
		_, err := nodes[i%3].Apply(testkit.Context(t, 10*time.Second), fmt.Appendf(nil, "set k%d v%d", i, i))
		require.NoError(t, err)
	}
	victim := followerIndex(nodes, lead)
	oldAddr := nodes[victim].RaftAddr()
	nodes[victim] = restart(t, nodes[victim], nodes[victim].dir, lead.Local().Address())
	require.NotEqual(t, oldAddr, nodes[victim].RaftAddr(), "restarted on a new port")

	// The leader updates the address in place: same server, still a voter.
	testkit.WaitFor(t, 30*time.Second, func() bool {
		servers, err := leaderOf(t, nodes).Consensus().Configuration(testkit.Context(t, time.Second))
		if err != nil || len(servers) != 3 {
			return false
		}
		for _, s := range servers {
			if s.Name == nodes[victim].Name() {
				return s.Addr == nodes[victim].RaftAddr() && s.Suffrage == consensus.Voter
			}
		}
		return false
	}, "configuration carries the new address")
	_, err := nodes[victim].Apply(testkit.Context(t, 10*time.Second), []byte("set after restart"))
	require.NoError(t, err)
	require.NoError(t, nodes[victim].Read(testkit.Context(t, 10*time.Second), consensus.Linearizable, func(consensus.StateMachine) error {
		for i := range 10 {
			require.Equal(t, fmt.Sprintf("v%d", i), nodes[victim].fsm.get(fmt.Sprintf("k%d", i)))
		}
		require.Equal(t, "restart", nodes[victim].fsm.get("after"))
		return nil
	}))
}

func TestRestartWithEmptyDataDirRejoins(t *testing.T) {
	nodes := startServers(t, 3)
	lead := leaderOf(t, nodes)
	_, err := lead.Apply(testkit.Context(t, 10*time.Second), []byte("set kept yes"))
	require.NoError(t, err)
	victim := followerIndex(nodes, lead)
	require.NoError(t, nodes[victim].Close())
	require.NoError(t, os.RemoveAll(nodes[victim].dir))
	nodes[victim] = restart(t, nodes[victim], t.TempDir(), lead.Local().Address())

	testkit.WaitFor(t, 30*time.Second, func() bool {
		st := nodes[victim].Consensus().Status()
		return st.HasState && nodes[victim].fsm.get("kept") == "yes"
	}, "wiped server caught up")
	testkit.WaitFor(t, 30*time.Second, func() bool {
		cfg := configOf(t, leaderOf(t, nodes))
		return len(cfg) == 3 && voters(cfg) == 3
	}, "3 voters again")
	_, err = nodes[victim].Apply(testkit.Context(t, 10*time.Second), []byte("set later ok"))
	require.NoError(t, err)
}
