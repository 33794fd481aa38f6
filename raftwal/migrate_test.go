package raftwal

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/consensus"
)

// set is a replicated set of strings.
type set struct {
	mu sync.Mutex
	m  map[string]bool
}

func newSet() *set { return &set{m: map[string]bool{}} }

func (s *set) Apply(cmd []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[string(cmd)] = true
	return nil, nil
}

func (s *set) has(k string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[k]
}

func (s *set) Snapshot() (consensus.Snapshot, error) {
	s.mu.Lock()
	var keys []string
	for k := range s.m {
		keys = append(keys, k)
	}
	s.mu.Unlock()
	return consensus.SnapshotFunc{WriteFunc: func(w io.Writer) error {
		_, err := io.WriteString(w, strings.Join(keys, "\n"))
		return err
	}}, nil
}

func (s *set) Restore(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := map[string]bool{}
	for _, k := range strings.Split(string(b), "\n") {
		if k != "" {
			m[k] = true
		}
	}
	s.mu.Lock()
	s.m = m
	s.mu.Unlock()
	return nil
}

// A server of a running three-server group on bolt is stopped, moved to
// raft-wal, restarted, then moved back: it keeps its seat and every write,
// including those made while it was down. While it runs on raft-wal, a
// migration of its directory is refused.
func TestMigrateARunningGroupsServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	root := t.TempDir()
	cfgs := make([]consensus.Config, 3)
	nodes := make([]*consensus.Node, 3)
	sets := make([]*set, 3)
	start := func(i int) {
		sets[i] = newSet()
		cfgs[i].StateMachine = sets[i]
		n, err := consensus.New(cfgs[i])
		require.NoError(t, err)
		require.NoError(t, n.Start(ctx))
		nodes[i] = n
	}
	var peers []consensus.Server
	for i := range cfgs {
		name := fmt.Sprintf("n%d", i)
		cfgs[i] = consensus.Config{Name: name, BindAddr: "127.0.0.1:0", DataDir: filepath.Join(root, name), Profile: consensus.ProfileLocal}
		start(i)
		peers = append(peers, consensus.Server{Name: name, Addr: nodes[i].Addr()})
		cfgs[i].BindAddr = nodes[i].Addr() // restarts keep the address
	}
	defer func() {
		for _, n := range nodes {
			_ = n.Close()
		}
	}()
	for _, n := range nodes {
		require.NoError(t, n.Bootstrap(ctx, peers))
	}
	for i := range 50 {
		_, err := nodes[i%3].Apply(ctx, fmt.Appendf(nil, "k%d", i))
		require.NoError(t, err)
	}
	follower := 0
	for nodes[follower].Leader().Name == nodes[follower].Name() {
		follower++
	}
	other := (follower + 1) % 3
	dir := cfgs[follower].DataDir

	for _, step := range []struct{ from, to consensus.LogStoreConfig }{
		{consensus.LogStoreConfig{}, LogStore(nil)}, {LogStore(nil), consensus.LogStoreConfig{}},
	} {
		require.NoError(t, nodes[follower].Close())
		down := "down-" + step.to.Name
		_, err := nodes[other].Apply(ctx, []byte(down))
		require.NoError(t, err)
		require.NoError(t, consensus.MigrateLogStore(dir, step.from, step.to))
		cfgs[follower].LogStore = step.to
		start(follower)
		require.NoError(t, nodes[follower].WaitReady(ctx))
		for i := range 50 {
			require.True(t, sets[follower].has(fmt.Sprintf("k%d", i)), "k%d", i)
		}
		require.True(t, sets[follower].has(down))
		if step.to.Name == Name {
			err := consensus.MigrateLogStore(dir, step.to, consensus.LogStoreConfig{})
			require.ErrorContains(t, err, "in use", "the running node holds the lock")
		}
	}
	servers, err := nodes[other].Configuration(ctx)
	require.NoError(t, err)
	require.Len(t, servers, 3)
}
