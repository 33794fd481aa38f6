package consensus

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

const (
	// boltFile is the bolt database under DataDir holding log and stable store.
	boltFile = "raft.db"
	// logCacheSize is how many recent log entries are kept in memory in
	// front of the log store; replication to followers reads from it.
	logCacheSize = 512
	// boltOpenTimeout bounds the wait for bolt's file lock, so a second node
	// pointed at the same DataDir fails instead of hanging.
	boltOpenTimeout = 2 * time.Second
)

// storage bundles the stores a raft instance runs on.
type storage struct {
	logs   raft.LogStore
	stable raft.StableStore
	snaps  raft.SnapshotStore
	close  func() error
}

// openStorage opens the stores described by cfg: a bolt file and a file
// snapshot store under DataDir, or in-memory stores.
func openStorage(cfg Config, logger hclog.Logger) (*storage, error) {
	if cfg.InMemory {
		mem := raft.NewInmemStore()
		return &storage{
			logs:   mem,
			stable: mem,
			snaps:  raft.NewInmemSnapshotStore(),
			close:  func() error { return nil },
		}, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("consensus: create data dir: %w", err)
	}
	bolt, err := raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(cfg.DataDir, boltFile),
		BoltOptions: &bbolt.Options{Timeout: boltOpenTimeout},
	})
	if err != nil {
		return nil, fmt.Errorf("consensus: open %s: %w", filepath.Join(cfg.DataDir, boltFile), err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, cfg.SnapshotRetain, logger)
	if err != nil {
		_ = bolt.Close()
		return nil, fmt.Errorf("consensus: open snapshot store: %w", err)
	}
	cached, err := raft.NewLogCache(logCacheSize, bolt)
	if err != nil {
		_ = bolt.Close()
		return nil, fmt.Errorf("consensus: log cache: %w", err)
	}
	return &storage{logs: cached, stable: bolt, snaps: snaps, close: bolt.Close}, nil
}

// hasState reports whether the stores hold any Raft state: a log entry, a
// term or a snapshot.
func (s *storage) hasState() (bool, error) {
	return raft.HasExistingState(s.logs, s.stable, s.snaps)
}
