package consensus

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/testkit"
)

// Every acknowledged write survives closing the whole group and reopening it
// from the same data directories, both the part held in a snapshot and the
// part only in the log.
func TestRestartFromDataDir(t *testing.T) {
	c := newCluster(t, 3, func(_ int, cfg *Config) {
		cfg.Tuning.SnapshotThreshold = 8
		cfg.Tuning.TrailingLogs = 4
		cfg.Tuning.SnapshotInterval = 20 * time.Millisecond
	})
	ctx := testkit.Context(t, 60*time.Second)
	const n = 40
	for i := range n {
		c.apply(ctx, i%3, fmt.Sprintf("set:k%d=%d", i, i))
	}
	for i := range c.nodes {
		testkit.WaitFor(t, 20*time.Second, func() bool { return c.nodes[i].Status().LastSnapshotIndex > 0 }, "node %d snapshots", i)
	}
	for i := n; i < n+3; i++ { // entries after the snapshot, only in the log
		c.apply(ctx, 0, fmt.Sprintf("set:k%d=%d", i, i))
	}
	c.closeAll()

	for i := range c.nodes {
		c.fsms[i] = newKV()
		c.cfgs[i].StateMachine = c.fsms[i]
		c.nodes[i] = c.start(c.cfgs[i])
		has, err := c.nodes[i].HasState()
		require.NoError(t, err)
		require.True(t, has)
		require.ErrorIs(t, c.nodes[i].Bootstrap(ctx, []Server{{Name: c.cfgs[i].Name, Addr: c.nodes[i].Addr()}}), ErrAlreadyBootstrapped)
	}
	c.waitReadyLeader()
	for i, nd := range c.nodes {
		require.NoError(t, nd.Read(ctx, Linearizable, func(StateMachine) error {
			for k := range n + 3 {
				if v, _ := c.fsms[i].get(fmt.Sprintf("k%d", k)); v != fmt.Sprint(k) {
					return fmt.Errorf("node %d lost k%d after restart (got %q)", i, k, v)
				}
			}
			return nil
		}))
		require.Positive(t, c.fsms[i].restores.Load(), "node %d restored its snapshot at start", i)
	}
}
