package consensus

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
)

// snapshotsDir is where raft's file snapshot store keeps its snapshots.
const snapshotsDir = "snapshots"

// keyCurrentTerm is the stable-store key under which raft keeps its term.
var keyCurrentTerm = []byte("CurrentTerm")

// restoreAdvice tells the operator how to restore a server whose log is lost.
const restoreAdvice = "restore this server from its peers: stop it, move the file aside " +
	"and start it with Config.StartFresh, so that the leader sends it a snapshot " +
	"(only while the rest of the group holds a quorum; otherwise restore the group from a backup)"

// checkBoltFile inspects dir/raft.db before bolt opens it. A 0-byte file in
// a directory that has been used (used: its log store record exists) would
// be initialised afresh by bolt, silently forgetting the term and vote; it
// is refused, or removed when fresh is set. A 0-byte file in an unused
// directory (a first start that crashed) is removed.
func checkBoltFile(dir string, used, fresh bool) error {
	path := filepath.Join(dir, boltFile)
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("consensus: %s: %w", path, err)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%w: %s is not a regular file", ErrCorruptLog, path)
	case fi.Size() > 0:
		return nil
	case used && !fresh:
		return fmt.Errorf("%w: %s is empty (0 bytes) although this data dir has held a Raft log: "+
			"the term and vote it recorded are lost; %s", ErrCorruptLog, path, restoreAdvice)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("consensus: remove empty %s: %w", path, err)
	}
	return nil
}

// openChecked opens a log store and reads what raft reads first, turning a
// panic or a memory fault inside the store (bbolt panics on some corrupt
// pages, and faults on a truncated file) into an error naming path.
func openChecked(path string, open func() (LogStore, error)) (st LogStore, err error) {
	defer func() {
		if r := recover(); r != nil {
			if st != nil {
				closeQuietly(st)
			}
			st, err = nil, fmt.Errorf("%w: %s cannot be read (%v); %s", ErrCorruptLog, path, r, restoreAdvice)
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	st, err = open()
	if err != nil {
		return nil, err
	}
	if err := probeLogStore(st); err != nil {
		closeQuietly(st)
		return nil, fmt.Errorf("%w: %s cannot be read (%v); %s", ErrCorruptLog, path, err, restoreAdvice)
	}
	return st, nil
}

// probeLogStore reads the first and last entries and the term.
func probeLogStore(st LogStore) error {
	first, err := st.FirstIndex()
	if err != nil {
		return err
	}
	last, err := st.LastIndex()
	if err != nil {
		return err
	}
	for _, i := range []uint64{first, last} {
		if i == 0 {
			continue
		}
		var l raft.Log
		if err := st.GetLog(i, &l); err != nil {
			return fmt.Errorf("log entry %d: %w", i, err)
		}
	}
	// Stores report a missing key by this message; raft's NewRaft tests it
	// the same way.
	if _, err := st.GetUint64(keyCurrentTerm); err != nil && err.Error() != "not found" {
		return err
	}
	return nil
}

func closeQuietly(st LogStore) {
	defer func() { _ = recover() }()
	_ = st.Close()
}

// checkLostLog refuses a log store with no entry and no term beside
// snapshots: the log was lost (deleted or emptied) while the state machine's
// snapshots remain. Raft would restore the snapshot with a forgotten term
// and vote and then be refused every append by the leader. With fresh set,
// the snapshots are moved aside to snapshots.lost-<unix time> instead, so
// that the server starts empty and is caught up by the leader.
func checkLostLog(dir, path string, st LogStore, snaps raft.SnapshotStore, fresh bool) (moved bool, err error) {
	last, err := st.LastIndex()
	if err != nil {
		return false, err
	}
	term, _ := st.GetUint64(keyCurrentTerm)
	if last != 0 || term != 0 {
		return false, nil
	}
	metas, err := snaps.List()
	if err != nil || len(metas) == 0 {
		return false, err
	}
	if !fresh {
		return false, fmt.Errorf("%w: %s holds no log and no term, yet %s holds snapshot %s (index %d, term %d); %s",
			ErrLostLog, path, filepath.Join(dir, snapshotsDir), metas[0].ID, metas[0].Index, metas[0].Term, restoreAdvice)
	}
	aside := filepath.Join(dir, snapshotsDir+".lost-"+strconv.FormatInt(time.Now().Unix(), 10))
	if err := os.Rename(filepath.Join(dir, snapshotsDir), aside); err != nil {
		return false, fmt.Errorf("consensus: move snapshots aside: %w", err)
	}
	return true, syncDir(dir)
}
