package consensus

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/testkit"
)

// Two of three servers are lost for good: the survivor, recovered as the
// only voter, keeps every acknowledged write and serves again.
func TestRecoverSurvivorAsSingleVoter(t *testing.T) {
	c := newCluster(t, 3, func(_ int, cfg *Config) {
		cfg.Tuning.SnapshotThreshold = 8
		cfg.Tuning.TrailingLogs = 4
		cfg.Tuning.SnapshotInterval = 20 * time.Millisecond
	})
	ctx := testkit.Context(t, 60*time.Second)
	const n = 30
	for i := range n {
		c.apply(ctx, i%3, fmt.Sprintf("set:k%d=%d", i, i))
	}
	testkit.WaitFor(t, 20*time.Second, func() bool { return c.nodes[0].Status().LastSnapshotIndex > 0 }, "a snapshot on n0")
	c.apply(ctx, 0, "set:last=yes") // only in the log
	testkit.WaitFor(t, 10*time.Second, func() bool { v, _ := c.fsms[0].get("last"); return v == "yes" }, "n0 applied the last write")
	c.closeAll()

	cfg := c.cfgs[0]
	fsm := newKV()
	cfg.StateMachine = fsm
	logger := cfg.Logger
	cfg.Logger = nil // optional, as for New
	require.NoError(t, Recover(cfg, []Server{{Name: cfg.Name, Addr: "127.0.0.1:1"}}))
	c.nodes, c.fsms, c.cfgs = c.nodes[:1], c.fsms[:1], c.cfgs[:1]
	cfg.Logger = logger
	c.fsms[0], c.cfgs[0] = fsm, cfg
	c.nodes[0] = c.start(cfg)
	t.Cleanup(c.closeAll)
	c.waitReadyLeader()
	c.apply(ctx, 0, "set:after=recovery")
	require.NoError(t, c.nodes[0].Read(ctx, Linearizable, func(StateMachine) error {
		for i := range n {
			if v, _ := fsm.get(fmt.Sprintf("k%d", i)); v != fmt.Sprint(i) {
				return fmt.Errorf("k%d = %q after recovery", i, v)
			}
		}
		if v, _ := fsm.get("last"); v != "yes" {
			return fmt.Errorf("last = %q after recovery", v)
		}
		return nil
	}))
	servers, err := c.nodes[0].Configuration(ctx)
	require.NoError(t, err)
	require.Len(t, servers, 1)
	require.Equal(t, cfg.Name, servers[0].Name)
}

func TestRecoverRefuses(t *testing.T) {
	c := newCluster(t, 1)
	t.Cleanup(c.closeAll)
	ctx := testkit.Context(t, 20*time.Second)
	c.waitReadyLeader()
	c.apply(ctx, 0, "set:a=1")
	cfg := c.cfgs[0]
	cfg.StateMachine = newKV()
	self := []Server{{Name: cfg.Name, Addr: "127.0.0.1:1"}}

	// In use by the running node: bolt's lock.
	err := Recover(cfg, self)
	require.ErrorIs(t, err, ErrDataDirInUse)
	require.ErrorContains(t, err, "stop it before recovering")

	// The list must name the node itself, with an address, as a voter.
	err = Recover(cfg, []Server{{Name: "other", Addr: "127.0.0.1:2"}})
	require.ErrorContains(t, err, `does not include this server ("n0")`)
	require.ErrorContains(t, Recover(cfg, nil), "no servers given")
	require.ErrorContains(t, Recover(cfg, []Server{{Name: cfg.Name}}), "needs an ID and an address")
	require.ErrorContains(t, Recover(cfg, []Server{{Name: cfg.Name, Addr: "a:1", Suffrage: NonVoter}}), "must be a voter")

	// Nothing to recover.
	empty := cfg
	empty.DataDir = t.TempDir()
	require.ErrorIs(t, Recover(empty, []Server{{Name: cfg.Name, Addr: "a:1"}}), ErrNoState)
	empty.DataDir = filepath.Join(t.TempDir(), "missing")
	require.ErrorIs(t, Recover(empty, []Server{{Name: cfg.Name, Addr: "a:1"}}), ErrNoState)
	_, err = os.Stat(empty.DataDir)
	require.ErrorIs(t, err, os.ErrNotExist, "a refused recovery creates nothing")

	// An unreadable store.
	bad := cfg
	bad.DataDir = t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(bad.DataDir, logStoreFile), []byte("bolt\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(bad.DataDir, boltFile), []byte("this is not a bolt database, not at all, nope"), 0o600))
	require.ErrorContains(t, Recover(bad, []Server{{Name: cfg.Name, Addr: "a:1"}}), "unreadable")

	// In memory: nothing to recover.
	mem := Config{Name: "m", InMemory: true, StateMachine: newKV()}
	require.ErrorIs(t, Recover(mem, []Server{{Name: "m", Addr: "a:1"}}), ErrInvalidConfig)

	// The node was never disturbed.
	c.apply(ctx, 0, "set:b=2")
}
