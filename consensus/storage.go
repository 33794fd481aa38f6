package consensus

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/conclave-go/conclave/internal/logadapt"
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
	watch  *storageWatch // write failures of logs and stable
}

// openStorage opens the stores described by cfg: the configured log store
// (bolt by default) and a file snapshot store under DataDir, or in-memory
// stores. It refuses a DataDir that holds another log store than the
// configured one, and records the store in a DataDir that holds none yet.
func openStorage(cfg Config, logger hclog.Logger) (*storage, error) {
	if cfg.InMemory {
		mem := raft.NewInmemStore()
		return &storage{
			logs:   mem,
			stable: mem,
			snaps:  raft.NewInmemSnapshotStore(),
			close:  func() error { return nil },
			watch:  &storageWatch{logger: logadapt.OrDiscard(cfg.Logger)},
		}, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("consensus: create data dir: %w", err)
	}
	record, err := checkLogStore(cfg.DataDir, cfg.LogStore)
	if err != nil {
		return nil, err
	}
	path := cfg.DataDir
	if !cfg.LogStore.isSet() {
		path = filepath.Join(cfg.DataDir, boltFile)
		if err := checkBoltFile(cfg.DataDir, !record, cfg.StartFresh); err != nil {
			return nil, err
		}
	}
	logs, err := openChecked(path, func() (LogStore, error) { return openLogStore(cfg.DataDir, cfg.LogStore) })
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*storage, error) {
		_ = logs.Close()
		return nil, err
	}
	if record {
		if err := writeLogStoreRecord(cfg.DataDir, cfg.LogStore.name()); err != nil {
			return fail(err)
		}
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, cfg.Tuning.SnapshotRetain, logger)
	if err != nil {
		return fail(fmt.Errorf("consensus: open snapshot store: %w", err))
	}
	moved, err := checkLostLog(cfg.DataDir, path, logs, snaps, cfg.StartFresh)
	if err != nil {
		return fail(err)
	}
	if moved {
		logger.Warn("raft log was lost: snapshots moved aside, starting empty to be restored by the leader (StartFresh)", "dir", cfg.DataDir)
		if snaps, err = raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, cfg.Tuning.SnapshotRetain, logger); err != nil {
			return fail(fmt.Errorf("consensus: open snapshot store: %w", err))
		}
	}
	watch := &storageWatch{logger: logadapt.OrDiscard(cfg.Logger)}
	watched := watchedStore{LogStore: logs, w: watch}
	cached, err := raft.NewLogCache(logCacheSize, watched)
	if err != nil {
		return fail(fmt.Errorf("consensus: log cache: %w", err))
	}
	return &storage{logs: cached, stable: watched, snaps: snaps, close: logs.Close, watch: watch}, nil
}

// openBolt opens the default store: raft-boltdb in dir/raft.db.
func openBolt(dir string) (LogStore, error) {
	path := filepath.Join(dir, boltFile)
	bolt, err := raftboltdb.New(raftboltdb.Options{
		Path:        path,
		BoltOptions: &bbolt.Options{Timeout: boltOpenTimeout},
	})
	if errors.Is(err, bbolt.ErrTimeout) {
		return nil, fmt.Errorf("consensus: open %s: %w (is another process using this DataDir?)", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s cannot be opened (%v); %s", ErrCorruptLog, path, err, restoreAdvice)
	}
	return bolt, nil
}

// hasState reports whether the stores hold any Raft state: a log entry, a
// term or a snapshot.
func (s *storage) hasState() (bool, error) {
	return raft.HasExistingState(s.logs, s.stable, s.snaps)
}
