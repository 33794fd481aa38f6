// Package raftwal offers hashicorp/raft-wal as the Raft log store of a
// Conclave consensus node, through consensus.Config.LogStore. It is a
// module of its own, github.com/conclave-go/conclave/raftwal, so that
// Conclave's main module does not depend on raft-wal and what it pulls in;
// a service that wants it adds this module. Its command cmd/kvstore is the
// kvstore example on raft-wal (-log-store wal; examples/kvstore/README.md).
//
// On a 3-server group with fsync on every write, raft-wal took about twice
// the writes of the default bolt store at 1, 16 and 256 concurrent callers
// (docs/PERFORMANCE.md, "Log stores"): it syncs once per append where bolt
// syncs its data pages and then its meta page.
//
// # Usage
//
//	cfg := consensus.Config{
//		DataDir:  "/var/lib/app/raft",
//		LogStore: raftwal.LogStore(nil), // files in DataDir/wal
//		...
//	}
//
// or, with package cluster, the same field of cluster.ConsensusConfig.
// The first start records "raft-wal" in the data directory; a directory
// created with the default store (bolt) refuses it, and the other way round
// (consensus.ErrLogStoreMismatch): to switch, remove the server from the
// group, start it on an empty DataDir and add it back.
//
// raft-wal v0.4.0 opens its metadata database without a lock timeout; Open
// first checks the lock with one, so a second process started on the same
// data directory fails within two seconds instead of waiting until the
// first one exits.
//
// # Moving a node between bolt and raft-wal
//
// consensus.MigrateLogStore moves a stopped node's log and stable store
// from one store to the other; snapshots stay as they are:
//
//	// the node is stopped
//	err := consensus.MigrateLogStore(dataDir, consensus.LogStoreConfig{}, raftwal.LogStore(nil))
//	// start it with Config.LogStore = raftwal.LogStore(logger)
//
// and back with the two stores swapped (remove DataDir/wal once the node
// runs on bolt again, before another move to raft-wal).
package raftwal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	"go.etcd.io/bbolt"

	"github.com/conclave-go/conclave/consensus"
)

// Name is the store's name, recorded in the data directory.
const Name = "raft-wal"

// Dir is the directory under the node's DataDir that holds the WAL's
// segment files and its metadata database.
const Dir = "wal"

// LogStore returns the consensus log store backed by raft-wal in
// DataDir/wal. logger receives raft-wal's logs; nil discards them (raft-wal
// would otherwise log to hclog's global default).
func LogStore(logger hclog.Logger) consensus.LogStoreConfig {
	return consensus.LogStoreConfig{Name: Name, Open: func(dir string) (consensus.LogStore, error) {
		return Open(filepath.Join(dir, Dir), logger)
	}}
}

// Open opens (creating it if needed) a raft-wal store in dir itself, for
// use outside consensus (a hand-wired raft group). logger receives
// raft-wal's logs; nil discards them.
func Open(dir string, logger hclog.Logger) (consensus.LogStore, error) {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := checkUnlocked(filepath.Join(dir, metadb.FileName)); err != nil {
		return nil, err
	}
	meta := &metadb.BoltMetaDB{}
	w, err := wal.Open(dir, wal.WithLogger(logger), wal.WithMetaStore(meta))
	if err != nil {
		return nil, errors.Join(err, meta.Close())
	}
	return &store{WAL: w, meta: meta}, nil
}

// lockTimeout bounds the wait for the metadata database's file lock.
const lockTimeout = 2 * time.Second

// checkUnlocked fails when another process holds the lock of the metadata
// database at path: raft-wal v0.4.0 opens it without a timeout, so it would
// wait until that process exits. Another process may still take the lock
// between this check and raft-wal's open.
func checkUnlocked(path string) error {
	if _, err := os.Stat(path); err != nil {
		return nil // not created yet: raft-wal creates it
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: lockTimeout})
	if err != nil {
		return fmt.Errorf("raftwal: %s is in use by another process (%w): stop the node that runs on it", path, err)
	}
	return db.Close()
}

// store is raft-wal with a Close that also closes its metadata database:
// raft-wal v0.4.0's own Close leaves it open, and with it bolt's file lock,
// so reopening the directory in the same process would wait forever. The
// embedded *wal.WAL keeps IsMonotonic (raft.MonotonicLogStore).
type store struct {
	*wal.WAL
	meta *metadb.BoltMetaDB
}

// Close closes the WAL, then its metadata database.
func (s *store) Close() error {
	err := s.WAL.Close()
	return errors.Join(err, s.meta.Close())
}
