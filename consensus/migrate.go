package consensus

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// The keys hashicorp/raft keeps in its stable store.
var stableUint64Keys, stableBytesKeys = []string{"CurrentTerm", "LastVoteTerm"}, []string{"LastVoteCand"}

// migrateBatch is how many log entries one StoreLogs call of a migration
// writes.
const migrateBatch = 1024

// MigrateLogStore moves the Raft log and stable store (term and vote) of a
// stopped node's DataDir from the store from to the store to, for example
// from bolt (the zero LogStoreConfig) to raft-wal and back. Snapshots are
// not touched. It refuses a DataDir whose record names another store than
// from, a to that already holds data, and a DataDir in use (a store that
// cannot take its lock within a few seconds).
//
// It copies every entry and the stable store, closes the new store, and
// only then records to as the DataDir's store, so a crash part way leaves
// the node on from; the partial new store must then be removed before a
// new attempt. Afterwards bolt's file, when from is bolt, is renamed
// DataDir/raft.db.migrated; another store's files are left in place.
// Remove either once the node runs on to. Start the node with
// Config.LogStore set to to.
func MigrateLogStore(dataDir string, from, to LogStoreConfig) error {
	if err := errors.Join(from.validate(false), to.validate(false)); err != nil {
		return err
	}
	if from.name() == to.name() {
		return fmt.Errorf("consensus: migrate %s: from and to are both %q", dataDir, to.name())
	}
	have, err := recordedLogStore(dataDir)
	if err != nil {
		return err
	}
	if have != from.name() {
		return fmt.Errorf("%w: %s holds log store %q, not %q", ErrLogStoreMismatch, dataDir, have, from.name())
	}
	src, err := openLogStore(dataDir, from)
	if err != nil {
		return fmt.Errorf("consensus: migrate %s: is a node running on it? %w", dataDir, err)
	}
	err = migrateInto(dataDir, src, to)
	if cerr := src.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("consensus: migrate %s: closing %q: %w", dataDir, from.name(), cerr)
	}
	if err != nil || from.isSet() {
		return err
	}
	old := filepath.Join(dataDir, boltFile)
	return os.Rename(old, old+migratedSuffix)
}

// migrateInto copies src into a new store to in dataDir, closes it and
// records it as the directory's store.
func migrateInto(dataDir string, src LogStore, to LogStoreConfig) error {
	dst, err := openLogStore(dataDir, to)
	if err != nil {
		return fmt.Errorf("consensus: migrate %s: %w", dataDir, err)
	}
	if err := copyLogStore(src, dst); err != nil {
		return errors.Join(fmt.Errorf("consensus: migrate %s to %q: %w", dataDir, to.name(), err), dst.Close())
	}
	if err := dst.Close(); err != nil {
		return fmt.Errorf("consensus: migrate %s: closing %q: %w", dataDir, to.name(), err)
	}
	return writeLogStoreRecord(dataDir, to.name())
}

// migratedSuffix is added to bolt's file once a migration moved its
// contents to another store.
const migratedSuffix = ".migrated"

// copyLogStore copies every entry and the stable store from src to dst,
// which must be empty.
func copyLogStore(src, dst LogStore) error {
	if err := checkEmpty(dst); err != nil {
		return err
	}
	first, err := src.FirstIndex()
	if err != nil {
		return err
	}
	last, err := src.LastIndex()
	if err != nil {
		return err
	}
	for lo := first; first > 0 && lo <= last; lo += migrateBatch {
		hi := min(last, lo+migrateBatch-1)
		batch := make([]*raft.Log, 0, hi-lo+1)
		for i := lo; i <= hi; i++ {
			var l raft.Log
			if err := src.GetLog(i, &l); err != nil {
				return fmt.Errorf("reading entry %d: %w", i, err)
			}
			batch = append(batch, &l)
		}
		if err := dst.StoreLogs(batch); err != nil {
			return fmt.Errorf("writing entries %d to %d: %w", lo, hi, err)
		}
	}
	return copyStable(src, dst)
}

// checkEmpty refuses a store that holds entries or a term.
func checkEmpty(s LogStore) error {
	last, err := s.LastIndex()
	if err != nil {
		return err
	}
	term, err := getUint64(s, "CurrentTerm")
	if err != nil {
		return err
	}
	if last != 0 || term != 0 {
		return fmt.Errorf("the new store already holds data (last index %d, term %d): remove its files first", last, term)
	}
	return nil
}

// copyStable copies the keys raft keeps in the stable store; an absent key
// (never written) stays absent.
func copyStable(src, dst LogStore) error {
	for _, k := range stableUint64Keys {
		v, err := getUint64(src, k)
		if err != nil {
			return err
		}
		if v == 0 {
			continue
		}
		if err := dst.SetUint64([]byte(k), v); err != nil {
			return fmt.Errorf("writing %s: %w", k, err)
		}
	}
	for _, k := range stableBytesKeys {
		v, err := src.Get([]byte(k))
		if errors.Is(err, raftboltdb.ErrKeyNotFound) || (err == nil && len(v) == 0) {
			continue
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", k, err)
		}
		if err := dst.Set([]byte(k), v); err != nil {
			return fmt.Errorf("writing %s: %w", k, err)
		}
	}
	return nil
}

// getUint64 reads a stable-store key; a key never written reads as zero,
// whether the store says "not found" (bolt) or returns nothing (raft-wal).
func getUint64(s LogStore, key string) (uint64, error) {
	v, err := s.GetUint64([]byte(key))
	if errors.Is(err, raftboltdb.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", key, err)
	}
	return v, nil
}
