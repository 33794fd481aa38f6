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

// A majority of the servers is lost for good, data directories and all. The
// survivor, recovered as the only voter, keeps every acknowledged write;
// fresh servers then join through gossip and the reconciler brings the
// cluster back to its size.
func TestRecoverAfterLosingQuorum(t *testing.T) {
	for _, size := range []int{3, 5} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			nodes := startServers(t, size)
			lead := leaderOf(t, nodes)
			testkit.WaitFor(t, 30*time.Second, func() bool { return voters(configOf(t, lead)) == size }, "%d voters", size)
			ctx := testkit.Context(t, 90*time.Second)
			const writes = 50
			for i := range writes {
				_, err := nodes[i%size].Apply(ctx, fmt.Appendf(nil, "set k%d v%d", i, i))
				require.NoError(t, err)
			}
			// The operator recovers the most up-to-date survivor: here, one
			// that has applied every acknowledged write.
			survivor := nodes[size-1]
			require.NoError(t, survivor.Read(ctx, consensus.Linearizable, func(consensus.StateMachine) error { return nil }))
			for _, n := range nodes[:size-1] {
				require.NoError(t, n.Close())
				require.NoError(t, os.RemoveAll(n.dir))
			}
			require.NoError(t, survivor.Close())

			// Recover, then start on a known Raft address.
			cfg, fsm := serverConfig(t, survivor.Name(), survivor.dir, size)
			cfg.Consensus.BindAddr = testkit.FreeAddr(t)
			self := []consensus.Server{{Name: cfg.Name, Addr: cfg.Consensus.BindAddr}}
			require.NoError(t, Recover(cfg, self))
			recovered := &testNode{Node: startNode(t, cfg), fsm: fsm, dir: survivor.dir}
			rest := []*testNode{recovered}
			require.Equal(t, recovered, leaderOf(t, rest))
			require.NoError(t, recovered.Read(ctx, consensus.Linearizable, func(consensus.StateMachine) error {
				for i := range writes {
					if v := fsm.get(fmt.Sprintf("k%d", i)); v != fmt.Sprintf("v%d", i) {
						return fmt.Errorf("acknowledged write k%d lost: %q", i, v)
					}
				}
				return nil
			}))
			_, err := recovered.Apply(ctx, []byte("set after recovery"))
			require.NoError(t, err)

			for i := range size - 1 {
				rest = append(rest, addServer(t, fmt.Sprintf("fresh%d", i), recovered.Local().Address(), nil))
			}
			testkit.WaitFor(t, 60*time.Second, func() bool {
				cfg := configOf(t, recovered)
				return len(cfg) == size && voters(cfg) == size
			}, "%d voters again", size)
			for _, n := range rest {
				require.NoError(t, n.Read(ctx, consensus.Linearizable, func(consensus.StateMachine) error {
					if v := n.fsm.get("k0"); v != "v0" {
						return fmt.Errorf("%s: k0 = %q", n.Name(), v)
					}
					if v := n.fsm.get("after"); v != "recovery" {
						return fmt.Errorf("%s: after = %q", n.Name(), v)
					}
					return nil
				}))
			}
		})
	}
}

func TestRecoverRefusesARunningServer(t *testing.T) {
	nodes := startServers(t, 1)
	leaderOf(t, nodes)
	cfg, _ := serverConfig(t, nodes[0].Name(), nodes[0].dir, 1)
	err := Recover(cfg, []consensus.Server{{Name: cfg.Name, Addr: nodes[0].RaftAddr()}})
	require.ErrorIs(t, err, ErrDataDirInUse)
	err = Recover(cfg, []consensus.Server{{Name: "someone-else", Addr: nodes[0].RaftAddr()}})
	require.ErrorContains(t, err, "does not include this server")
	client := cfg
	client.Consensus = nil
	require.ErrorIs(t, Recover(client, nil), ErrInvalidConfig)
	_, err = nodes[0].Apply(testkit.Context(t, 10*time.Second), []byte("set still serving"))
	require.NoError(t, err)
}
