package consensus

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/testkit"
)

// usedDataDir runs a single-server group on a fresh data dir, writes to it
// (snapshotting when snapshot is set), closes it and returns its config.
func usedDataDir(t *testing.T, snapshot bool) Config {
	t.Helper()
	c := newCluster(t, 1, func(_ int, cfg *Config) {
		if snapshot {
			cfg.Tuning.SnapshotThreshold = 8
			cfg.Tuning.TrailingLogs = 4
			cfg.Tuning.SnapshotInterval = 20 * time.Millisecond
		}
	})
	ctx := testkit.Context(t, 30*time.Second)
	for i := range 40 {
		c.apply(ctx, 0, fmt.Sprintf("set:k%d=%s", i, string(make([]byte, 512))))
	}
	if snapshot {
		testkit.WaitFor(t, 20*time.Second, func() bool { return c.nodes[0].Status().LastSnapshotIndex > 0 }, "a snapshot")
	}
	c.closeAll()
	cfg := c.cfgs[0]
	cfg.StateMachine = newKV()
	return cfg
}

// startErr starts a node on cfg and returns Start's error, closing the node.
func startErr(t *testing.T, cfg Config) error {
	t.Helper()
	nd, err := New(cfg)
	require.NoError(t, err)
	defer func() { require.NoError(t, nd.Close()) }()
	return nd.Start(context.Background())
}

func TestEmptyRaftDBIsRefused(t *testing.T) {
	cfg := usedDataDir(t, false)
	path := filepath.Join(cfg.DataDir, boltFile)
	require.NoError(t, os.Truncate(path, 0))

	err := startErr(t, cfg)
	require.ErrorIs(t, err, ErrCorruptLog)
	require.ErrorContains(t, err, path)
	require.ErrorContains(t, err, "0 bytes")
	require.ErrorContains(t, err, "StartFresh")

	cfg.StartFresh = true
	require.NoError(t, startErr(t, cfg), "the operator chose to start empty")
}

func TestCorruptRaftDBIsAnError(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"truncated", func(t *testing.T, path string) {
			fi, err := os.Stat(path)
			require.NoError(t, err)
			require.NoError(t, os.Truncate(path, fi.Size()/3))
		}},
		{"pages overwritten", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			require.NoError(t, err)
			junk := make([]byte, 64<<10)
			rand.New(rand.NewSource(1)).Read(junk)
			_, err = f.WriteAt(junk, 8<<10) // past the two meta pages: freelist, buckets, entries
			require.NoError(t, err)
			require.NoError(t, f.Close())
		}},
		{"meta pages overwritten", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			require.NoError(t, err)
			junk := make([]byte, 8<<10)
			rand.New(rand.NewSource(2)).Read(junk)
			_, err = f.WriteAt(junk, 0)
			require.NoError(t, err)
			require.NoError(t, f.Close())
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := usedDataDir(t, false)
			path := filepath.Join(cfg.DataDir, boltFile)
			tc.damage(t, path)
			err := startErr(t, cfg) // an error, never a panic
			require.ErrorIs(t, err, ErrCorruptLog)
			require.ErrorContains(t, err, path)
			require.ErrorContains(t, err, "restore this server from its peers")
		})
	}
}

func TestLostLogBesideSnapshotsIsRefused(t *testing.T) {
	cfg := usedDataDir(t, true)
	path := filepath.Join(cfg.DataDir, boltFile)
	require.NoError(t, os.Remove(path))

	err := startErr(t, cfg)
	require.ErrorIs(t, err, ErrLostLog)
	require.ErrorContains(t, err, path)
	require.ErrorContains(t, err, "StartFresh")

	cfg.StartFresh = true
	nd, err := New(cfg)
	require.NoError(t, err)
	require.NoError(t, nd.Start(context.Background()))
	has, err := nd.HasState()
	require.NoError(t, err)
	require.False(t, has, "the server starts empty, to be restored by the leader")
	require.NoError(t, nd.Close())
	aside, err := filepath.Glob(filepath.Join(cfg.DataDir, "snapshots.lost-*"))
	require.NoError(t, err)
	require.Len(t, aside, 1, "the old snapshots are kept aside, not deleted")
}
