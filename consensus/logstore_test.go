package consensus

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"

	"github.com/conclave-go/conclave/internal/errs"
	"github.com/conclave-go/conclave/internal/testkit"
)

// countingStore counts the stores a LogStore opened and closed.
type countingStore struct {
	opened, closed atomic.Int64
}

type countedStorage struct {
	LogStore
	c *countingStore
}

func (s countedStorage) Close() error {
	s.c.closed.Add(1)
	return s.LogStore.Close()
}

// customBolt is a store other than the default: raft-boltdb in
// dir/custom.db, opened through the hook.
func (c *countingStore) customBolt() LogStoreConfig {
	return LogStoreConfig{Name: "custom-bolt", Open: func(dir string) (LogStore, error) {
		st, err := raftboltdb.New(raftboltdb.Options{
			Path:        filepath.Join(dir, "custom.db"),
			BoltOptions: &bbolt.Options{Timeout: time.Second},
		})
		if err != nil {
			return nil, err
		}
		c.opened.Add(1)
		return countedStorage{st, c}, nil
	}}
}

func recorded(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, logStoreFile))
	require.NoError(t, err)
	return string(b)
}

// A group on a custom log store keeps every write across a restart of all
// its servers; the store is closed once for every open, and the data
// directories hold the custom file and the record, not raft.db.
func TestCustomLogStoreGroupRestarts(t *testing.T) {
	var cs countingStore
	c := newCluster(t, 3, func(_ int, cfg *Config) { cfg.LogStore = cs.customBolt() })
	ctx := testkit.Context(t, 60*time.Second)
	const n = 20
	for i := range n {
		c.apply(ctx, i%3, fmt.Sprintf("set:k%d=%d", i, i))
	}
	c.closeAll()
	require.Equal(t, int64(3), cs.opened.Load())
	require.Equal(t, int64(3), cs.closed.Load(), "Close closes the store")
	for _, cfg := range c.cfgs {
		require.Equal(t, "custom-bolt\n", recorded(t, cfg.DataDir))
		require.FileExists(t, filepath.Join(cfg.DataDir, "custom.db"))
		require.NoFileExists(t, filepath.Join(cfg.DataDir, boltFile))
	}

	for i := range c.nodes {
		c.fsms[i] = newKV()
		c.cfgs[i].StateMachine = c.fsms[i]
		c.nodes[i] = c.start(c.cfgs[i])
	}
	c.waitReadyLeader()
	for i, nd := range c.nodes {
		require.NoError(t, nd.Read(ctx, Linearizable, func(StateMachine) error {
			for k := range n {
				if v, _ := c.fsms[i].get(fmt.Sprintf("k%d", k)); v != fmt.Sprint(k) {
					return fmt.Errorf("node %d lost k%d after restart (got %q)", i, k, v)
				}
			}
			return nil
		}))
	}
	c.closeAll()
	require.Equal(t, int64(6), cs.closed.Load())
}

// startSolo starts a single-server group in cfg.DataDir and writes one
// command, so that the directory holds state.
func startSolo(t *testing.T, cfg Config) {
	t.Helper()
	nd, err := New(cfg)
	require.NoError(t, err)
	require.NoError(t, nd.Start(context.Background()))
	ctx := testkit.Context(t, 30*time.Second)
	require.NoError(t, nd.Bootstrap(ctx, []Server{{Name: cfg.Name, Addr: nd.Addr()}}))
	testkit.WaitFor(t, 20*time.Second, func() bool { return nd.Status().State == StateLeader }, "solo leader")
	_, err = nd.Apply(ctx, []byte("set:a=1"))
	require.NoError(t, err)
	require.NoError(t, nd.Close())
}

// reopen starts a node on cfg and reports whether it holds state; the node
// is closed before returning.
func reopen(t *testing.T, cfg Config) error {
	t.Helper()
	nd, err := New(cfg)
	require.NoError(t, err)
	defer nd.Close()
	if err := nd.Start(context.Background()); err != nil {
		return err
	}
	has, err := nd.HasState()
	require.NoError(t, err)
	require.True(t, has, "the data dir's state is back")
	return nil
}

// Starting a data directory with another store than the one it holds is
// refused, in both directions, without touching the directory; the right
// setting still opens it.
func TestLogStoreSwitchRefused(t *testing.T) {
	t.Run("bolt dir, custom store", func(t *testing.T) {
		var cs countingStore
		cfg := testConfig(t, "s", newKV())
		startSolo(t, cfg)
		require.Equal(t, "bolt\n", recorded(t, cfg.DataDir))

		custom := cfg
		custom.LogStore = cs.customBolt()
		err := reopen(t, custom)
		requireMismatch(t, err, `"bolt"`, `"custom-bolt"`)
		require.Zero(t, cs.opened.Load(), "the other store is never opened")
		require.NoFileExists(t, filepath.Join(cfg.DataDir, "custom.db"))
		require.Equal(t, "bolt\n", recorded(t, cfg.DataDir))

		require.NoError(t, reopen(t, cfg))
	})
	t.Run("custom dir, default store", func(t *testing.T) {
		var cs countingStore
		cfg := testConfig(t, "s", newKV())
		cfg.LogStore = cs.customBolt()
		startSolo(t, cfg)
		require.Equal(t, "custom-bolt\n", recorded(t, cfg.DataDir))

		def := cfg
		def.LogStore = LogStoreConfig{}
		err := reopen(t, def)
		requireMismatch(t, err, `"custom-bolt"`, `"bolt"`)
		require.NoFileExists(t, filepath.Join(cfg.DataDir, boltFile))

		require.NoError(t, reopen(t, cfg))
		require.Equal(t, cs.opened.Load(), cs.closed.Load())
	})
}

func requireMismatch(t *testing.T, err error, have, want string) {
	t.Helper()
	require.ErrorIs(t, err, ErrLogStoreMismatch)
	msg := err.Error()
	require.Regexp(t, "holds log store "+have+" but Config.LogStore selects "+want, msg)
	require.Contains(t, msg, "keep the LogStore setting")
	require.Contains(t, msg, "fresh DataDir")
}

// A record that does not hold a store name stops the start with an error
// naming the file.
func TestLogStoreRecordCorrupt(t *testing.T) {
	cfg := testConfig(t, "s", newKV())
	for _, content := range []string{"", "Bolt\n", "bolt\nbolt\n", string(make([]byte, 100))} {
		require.NoError(t, os.WriteFile(filepath.Join(cfg.DataDir, logStoreFile), []byte(content), 0o600))
		nd, err := New(cfg)
		require.NoError(t, err)
		err = nd.Start(context.Background())
		require.ErrorContains(t, err, filepath.Join(cfg.DataDir, logStoreFile), "content %q", content)
		require.ErrorContains(t, err, "does not hold a log store name")
		require.NoError(t, nd.Close())
	}
}

// A store whose Open fails, or returns no store, fails Start with an error
// (no crash), records nothing and leaves the port free.
func TestLogStoreOpenFailures(t *testing.T) {
	errBroken := errors.New("disk on fire")
	cases := map[string]func(string) (LogStore, error){
		"error":         func(string) (LogStore, error) { return nil, errBroken },
		"nil, nil":      func(string) (LogStore, error) { return nil, nil },
		"wrapped error": func(string) (LogStore, error) { return nil, fmt.Errorf("wrapped: %w", errBroken) },
	}
	for name, open := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t, "s", newKV())
			cfg.LogStore = LogStoreConfig{Name: "broken", Open: open}
			nd, err := New(cfg)
			require.NoError(t, err)
			err = nd.Start(context.Background())
			require.Error(t, err)
			require.ErrorContains(t, err, `log store "broken"`)
			if name != "nil, nil" {
				require.ErrorIs(t, err, errBroken)
			} else {
				require.ErrorContains(t, err, "neither a store nor an error")
			}
			require.NoError(t, nd.Close())
			_, err = os.Stat(filepath.Join(cfg.DataDir, logStoreFile))
			require.ErrorIs(t, err, os.ErrNotExist)

			// Nothing was recorded: the directory still takes the default.
			cfg.LogStore = LogStoreConfig{}
			nd, err = New(cfg)
			require.NoError(t, err)
			require.NoError(t, nd.Start(context.Background()))
			require.NoError(t, nd.Close())
		})
	}
}

// A store whose start fails after Open (here: the snapshot directory cannot
// be created) is closed.
func TestLogStoreClosedWhenStartFails(t *testing.T) {
	var cs countingStore
	cfg := testConfig(t, "s", newKV())
	cfg.LogStore = cs.customBolt()
	require.NoError(t, os.WriteFile(filepath.Join(cfg.DataDir, "snapshots"), nil, 0o600))
	nd, err := New(cfg)
	require.NoError(t, err)
	require.ErrorContains(t, nd.Start(context.Background()), "snapshot store")
	require.NoError(t, nd.Close())
	require.Equal(t, int64(1), cs.opened.Load())
	require.Equal(t, int64(1), cs.closed.Load())
}

func TestLogStoreConfigErrors(t *testing.T) {
	open := func(string) (LogStore, error) { return nil, nil }
	cases := []struct {
		field string
		store LogStoreConfig
		inMem bool
	}{
		{"LogStore.Open", LogStoreConfig{Name: "wal"}, false},
		{"LogStore.Name", LogStoreConfig{Open: open}, false},
		{"LogStore.Name", LogStoreConfig{Name: "Raft-WAL", Open: open}, false},
		{"LogStore.Name", LogStoreConfig{Name: "raft wal", Open: open}, false},
		{"LogStore.Name", LogStoreConfig{Name: "a-very-long-name-for-a-log-store-x", Open: open}, false},
		{"LogStore.Name", LogStoreConfig{Name: "bolt", Open: open}, false},
		{"LogStore", LogStoreConfig{Name: "wal", Open: open}, true},
	}
	for _, tc := range cases {
		cfg := testConfig(t, "n", newKV())
		cfg.LogStore = tc.store
		if tc.inMem {
			cfg.DataDir, cfg.InMemory = "", true
		}
		_, err := New(cfg)
		require.ErrorIs(t, err, ErrInvalidConfig, "%+v", tc.store)
		require.Equal(t, []string{tc.field}, errs.Fields(err), err.Error())
	}
	cfg := testConfig(t, "n", newKV())
	cfg.LogStore = LogStoreConfig{Name: "raft-wal-2", Open: open}
	_, err := New(cfg)
	require.NoError(t, err)
	require.Contains(t, cfg.String(), "logstore=raft-wal-2")
}
