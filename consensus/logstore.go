package consensus

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/raft"
)

// LogStore is a Raft log store that is also the stable store (current
// term, vote) and can be closed. raft-boltdb and hashicorp/raft-wal both
// satisfy it. A store that also implements raft.MonotonicLogStore keeps that
// behaviour: the node's log cache passes it on.
type LogStore interface {
	raft.LogStore
	raft.StableStore
	io.Closer
}

// LogStoreConfig chooses the store that holds a node's Raft log and stable store.
// The zero value is the default: raft-boltdb in DataDir/raft.db, recorded in
// the data directory under the name "bolt".
//
// A data directory keeps the store it was created with: the first start
// records the store's name in DataDir/logstore, and a later start with a
// different store fails with [ErrLogStoreMismatch] rather than start on an
// empty log beside the old one.
type LogStoreConfig struct {
	// Name identifies the store's on-disk format; it is recorded in the data
	// directory and compared on every start. Required when Open is set: 1 to
	// 32 bytes of a-z, 0-9 and '-'; "bolt" is reserved for the default.
	Name string
	// Open opens (creating if needed) the store in dir, which is the node's
	// DataDir. The store keeps its files under dir, away from the names the
	// node uses itself: raft.db, logstore, logstore.tmp and snapshots. It is
	// called once per Start, and the node calls Close on what it returns
	// when it stops or fails to start.
	Open func(dir string) (LogStore, error)
}

const (
	// defaultLogStoreName is what a data directory on raft-boltdb records.
	defaultLogStoreName = "bolt"
	// logStoreFile records, under DataDir, the name of the log store the
	// directory holds.
	logStoreFile   = "logstore"
	maxLogStoreLen = 32
)

// isSet reports whether a store other than the default is configured.
func (s LogStoreConfig) isSet() bool { return s.Name != "" || s.Open != nil }

// name is the name recorded for this store.
func (s LogStoreConfig) name() string {
	if !s.isSet() {
		return defaultLogStoreName
	}
	return s.Name
}

// validate checks the fields of a configured store; inMemory is
// Config.InMemory.
func (s LogStoreConfig) validate(inMemory bool) error {
	switch {
	case !s.isSet():
		return nil
	case inMemory:
		return configError("LogStore", s.Name, "must be the zero value when InMemory is set")
	case s.Open == nil:
		return configError("LogStore.Open", nil, "required when LogStore.Name is set")
	case s.Name == defaultLogStoreName:
		return configError("LogStore.Name", s.Name, "reserved for the default store (leave LogStore unset for it)")
	}
	if err := checkLogStoreName(s.Name); err != nil {
		return configError("LogStore.Name", s.Name, "%v", err)
	}
	return nil
}

// checkLogStoreName reports why name cannot name a store, or nil.
func checkLogStoreName(name string) error {
	if name == "" || len(name) > maxLogStoreLen {
		return fmt.Errorf("%q: 1 to %d bytes allowed", name, maxLogStoreLen)
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return fmt.Errorf("%q: only a-z, 0-9 and '-' allowed", name)
		}
	}
	return nil
}

// recordedLogStore returns the name of the store dir holds, or "" for a
// directory without a record, which holds none yet (the record is written
// as soon as a store has opened, before Raft writes to it).
func recordedLogStore(dir string) (string, error) {
	path := filepath.Join(dir, logStoreFile)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("consensus: read log store record: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxLogStoreLen+2))
	if err != nil {
		return "", fmt.Errorf("consensus: read log store record: %w", err)
	}
	name := strings.TrimSuffix(string(b), "\n")
	if err := checkLogStoreName(name); err != nil {
		return "", fmt.Errorf("consensus: %s does not hold a log store name: %v; it should hold the name of the store the directory was created with (\"bolt\" for the default)", path, err)
	}
	return name, nil
}

// checkLogStore reports whether the record of dir must be written, or
// returns [ErrLogStoreMismatch] when dir holds another store than want.
func checkLogStore(dir string, want LogStoreConfig) (record bool, err error) {
	have, err := recordedLogStore(dir)
	if err != nil {
		return false, err
	}
	if have != "" && have != want.name() {
		return false, fmt.Errorf("%w: %s holds log store %q but Config.LogStore selects %q: "+
			"keep the LogStore setting the directory was created with, or move the group's data to a fresh DataDir "+
			"(remove the server from the group, start it on an empty DataDir with the new store, add it back)",
			ErrLogStoreMismatch, dir, have, want.name())
	}
	return have == "", nil
}

// writeLogStoreRecord records name in dir atomically: a temporary file,
// synced, renamed over the record, then the directory synced.
func writeLogStoreRecord(dir, name string) error {
	tmp := filepath.Join(dir, logStoreFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("consensus: record log store: %w", err)
	}
	_, err = f.WriteString(name + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, logStoreFile))
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("consensus: record log store: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// openLogStore opens the configured store in dir. A nil store with a nil
// error is an error.
func openLogStore(dir string, s LogStoreConfig) (LogStore, error) {
	if !s.isSet() {
		return openBolt(dir)
	}
	st, err := s.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("consensus: open log store %q in %s: %w", s.Name, dir, err)
	}
	if st == nil {
		return nil, fmt.Errorf("consensus: open log store %q in %s: Open returned neither a store nor an error", s.Name, dir)
	}
	return st, nil
}
