package cluster

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"

	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/internal/testkit"
)

// The log store a server is configured with is the one it runs on, and its
// data directory then refuses the default store.
func TestLogStoreField(t *testing.T) {
	custom := consensus.LogStoreConfig{Name: "custom-bolt", Open: func(dir string) (consensus.LogStore, error) {
		return raftboltdb.New(raftboltdb.Options{
			Path:        filepath.Join(dir, "custom.db"),
			BoltOptions: &bbolt.Options{Timeout: time.Second},
		})
	}}
	dir := t.TempDir()
	cfg, _ := serverConfig(t, "s0", dir, 1)
	cfg.Consensus.LogStore = custom
	n := startNode(t, cfg)
	_, err := n.Apply(testkit.Context(t, 30*time.Second), []byte("set a 1"))
	require.NoError(t, err)
	require.NoError(t, n.Close())
	b, err := os.ReadFile(filepath.Join(dir, "logstore"))
	require.NoError(t, err)
	require.Equal(t, "custom-bolt\n", string(b))
	require.FileExists(t, filepath.Join(dir, "custom.db"))
	require.NoFileExists(t, filepath.Join(dir, "raft.db"))

	cfg, _ = serverConfig(t, "s0", dir, 1)
	n, err = New(cfg)
	require.NoError(t, err)
	err = n.Start(testkit.Context(t, 20*time.Second))
	require.ErrorIs(t, err, consensus.ErrLogStoreMismatch)
	require.NoError(t, n.Close())

	cfg.Consensus.DataDir, cfg.Consensus.InMemory = "", true
	cfg.Consensus.LogStore = custom
	_, err = New(cfg)
	require.ErrorContains(t, err, "LogStore")
}
