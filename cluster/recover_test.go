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
// survivors, recovered with a configuration of their own, keep every
// acknowledged write; fresh servers then join through gossip and the
// reconciler brings the cluster back to its size.
func TestRecoverAfterLosingQuorum(t *testing.T) {
	for _, c := range []struct{ size, lost int }{{3, 2}, {5, 3}} {
		t.Run(fmt.Sprintf("%d-lose-%d", c.size, c.lost), func(t *testing.T) {
			nodes := startServers(t, c.size)
			lead := leaderOf(t, nodes)
			testkit.WaitFor(t, 30*time.Second, func() bool { return voters(configOf(t, lead)) == c.size }, "%d voters", c.size)
			ctx := testkit.Context(t, 90*time.Second)
			const writes = 50
			for i := range writes {
				_, err := nodes[i%c.size].Apply(ctx, fmt.Appendf(nil, "set k%d v%d", i, i))
				require.NoError(t, err)
			}
			lost, survivors := nodes[:c.lost], nodes[c.lost:]
			// An acknowledged write is on a quorum, not necessarily on the
			// servers that survive; recovery keeps what they hold. Here
			// they hold every acknowledged write, as a linearizable read
			// through each shows.
			for _, n := range survivors {
				require.NoError(t, n.Read(ctx, consensus.Linearizable, func(consensus.StateMachine) error { return nil }))
			}
			for _, n := range lost {
				require.NoError(t, n.Close())
				require.NoError(t, os.RemoveAll(n.dir))
			}
			for _, n := range survivors {
				require.NoError(t, n.Close())
			}

			// Recover every survivor with the same list, on known Raft
			// addresses, then start them.
			cfgs := make([]Config, len(survivors))
			fsms := make([]*kv, len(survivors))
			var list []consensus.Server
			for i, n := range survivors {
				cfgs[i], fsms[i] = serverConfig(t, n.Name(), n.dir, c.size)
				cfgs[i].Consensus.BindAddr = testkit.FreeAddr(t)
				list = append(list, consensus.Server{Name: n.Name(), Addr: cfgs[i].Consensus.BindAddr})
			}
			var rest []*testNode
			seed := ""
			for i := range survivors {
				require.NoError(t, Recover(cfgs[i], list))
				if seed != "" {
					cfgs[i].Seeds = []string{seed}
				}
				n := &testNode{Node: startNode(t, cfgs[i]), fsm: fsms[i], dir: survivors[i].dir}
				if seed == "" {
					seed = n.Local().Address()
				}
				rest = append(rest, n)
			}
			lead = leaderOf(t, rest)
			for _, n := range rest {
				require.NoError(t, n.Read(ctx, consensus.Linearizable, func(consensus.StateMachine) error {
					for i := range writes {
						if v := n.fsm.get(fmt.Sprintf("k%d", i)); v != fmt.Sprintf("v%d", i) {
							return fmt.Errorf("%s: acknowledged write k%d lost: %q", n.Name(), i, v)
						}
					}
					return nil
				}))
			}
			_, err := rest[0].Apply(ctx, []byte("set after recovery"))
			require.NoError(t, err)

			for i := range c.lost {
				rest = append(rest, addServer(t, fmt.Sprintf("fresh%d", i), seed, nil))
			}
			testkit.WaitFor(t, 60*time.Second, func() bool {
				cfg := configOf(t, leaderOf(t, rest))
				return len(cfg) == c.size && voters(cfg) == c.size
			}, "%d voters again", c.size)
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
