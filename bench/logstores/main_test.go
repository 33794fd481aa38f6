package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/conclave-go/conclave/bench"
	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/raftwal"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// A 3-server consensus group on raft-wal keeps every acknowledged write
// across a restart of all its servers, and its data directories hold the
// WAL and the record of the store, not bolt's file.
func TestRaftWALGroupRestarts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()
	g, err := startGroup(ctx, dir, 3, raftwal.LogStore(nil), consensus.ProfileLocal)
	require.NoError(t, err)
	defer func() { require.NoError(t, g.close()) }()

	const n, size = 100, 300
	for k := range uint64(n) {
		applyOnLeader(ctx, t, g, bench.Command(k, size))
	}
	require.NoError(t, g.restart(ctx))
	for i, node := range g.nodes {
		require.NoError(t, node.Read(ctx, consensus.Linearizable, func(consensus.StateMachine) error {
			for k := range uint64(n) {
				v, ok := g.sms[i].get(k)
				if want := bench.Command(k, size)[8:]; !ok || string(v) != string(want) {
					return fmt.Errorf("server %d lost key %d after restart", i, k)
				}
			}
			return nil
		}))
	}
	for _, cfg := range g.cfgs {
		b, err := os.ReadFile(filepath.Join(cfg.DataDir, "logstore"))
		require.NoError(t, err)
		require.Equal(t, raftwal.Name+"\n", string(b))
		require.DirExists(t, filepath.Join(cfg.DataDir, raftwal.Dir))
		require.NoFileExists(t, filepath.Join(cfg.DataDir, "raft.db"))
	}
}

// applyOnLeader applies cmd on the leader, retrying through a leader
// change (the commands are idempotent).
func applyOnLeader(ctx context.Context, t *testing.T, g *group, cmd []byte) {
	t.Helper()
	for {
		l := g.leader()
		if l >= 0 {
			_, err := g.nodes[l].Apply(ctx, cmd)
			if err == nil {
				return
			}
			if !errors.Is(err, consensus.ErrOutcomeUnknown) && !errors.Is(err, consensus.ErrNoLeader) {
				require.NoError(t, err)
			}
		}
		require.NoError(t, ctx.Err(), "no leader took the write")
		time.Sleep(5 * time.Millisecond) // waiting for an election, not synchronising
	}
}

// A data directory created on the default store refuses raft-wal, and one
// created on raft-wal refuses the default.
func TestSwitchingStoreRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name        string
		first, then consensus.LogStoreConfig
	}{
		{"bolt to raft-wal", consensus.LogStoreConfig{}, raftwal.LogStore(nil)},
		{"raft-wal to bolt", raftwal.LogStore(nil), consensus.LogStoreConfig{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := startGroup(ctx, t.TempDir(), 1, tc.first, consensus.ProfileLocal)
			require.NoError(t, err)
			require.NoError(t, g.close())
			cfg := g.cfgs[0]
			cfg.LogStore = tc.then
			n, err := consensus.New(cfg)
			require.NoError(t, err)
			err = n.Start(ctx)
			require.ErrorIs(t, err, consensus.ErrLogStoreMismatch)
			require.ErrorContains(t, err, "bolt")
			require.ErrorContains(t, err, raftwal.Name)
			require.NoError(t, n.Close())
		})
	}
}
