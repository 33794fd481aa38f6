package consensus

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/raft"
)

// storageWatch records the failures of writes to the log and stable store,
// so that a node whose disk is full or failing says so in its [Status]
// instead of looking healthy. A later successful write clears the record:
// the node recovers by itself when space returns.
type storageWatch struct {
	logger *slog.Logger
	// closing, when set, ends the retries of stable-store writes; nil means
	// no retry (an offline tool).
	closing <-chan struct{}

	mu       sync.Mutex // guards the fields below
	err      error      // the latest write failure; nil once a write succeeds
	since    time.Time  // when writes began failing
	failures uint64     // writes that failed since the node started
}

// observe records the outcome of one write.
func (w *storageWatch) observe(op string, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case err == nil && w.err != nil:
		w.logger.Info("raft storage writes succeed again", "failing_for", time.Since(w.since).Round(time.Millisecond))
		w.err = nil
	case err != nil:
		w.failures++
		if w.err == nil {
			w.since = time.Now()
			w.logger.Error("raft storage write failed; the node cannot accept log entries until it succeeds", "op", op, "error", err, "disk_full", errors.Is(err, syscall.ENOSPC))
		}
		w.err = fmt.Errorf("%s: %w", op, err)
	}
}

// problem describes the current write failure, "" when writes succeed.
func (w *storageWatch) problem() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		return ""
	}
	what := "writes to the Raft log fail"
	if errors.Is(w.err, syscall.ENOSPC) {
		what = "disk full: writes to the Raft log fail"
	}
	return fmt.Sprintf("%s since %v ago (%v); free space on the data directory's disk or fix the disk, and the server catches up by itself",
		what, time.Since(w.since).Round(time.Second), w.err)
}

// failureCount returns the writes that failed since the node started.
func (w *storageWatch) failureCount() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failures
}

// watchedStore is a log and stable store whose write failures are recorded
// by a storageWatch. Reads pass through.
type watchedStore struct {
	LogStore
	w *storageWatch
}

var _ raft.MonotonicLogStore = watchedStore{}

func (s watchedStore) StoreLog(l *raft.Log) error {
	err := s.LogStore.StoreLog(l)
	s.w.observe("store log", err)
	return err
}

func (s watchedStore) StoreLogs(logs []*raft.Log) error {
	err := s.LogStore.StoreLogs(logs)
	s.w.observe("store logs", err)
	return err
}

func (s watchedStore) DeleteRange(min, max uint64) error {
	err := s.LogStore.DeleteRange(min, max)
	s.w.observe("delete logs", err)
	return err
}

// Set and SetUint64 persist the current term and vote. Raft stops the
// process when they fail, so a failed write is retried, holding Raft's
// loop (the node is then as good as paused: the others elect without it)
// until a write succeeds or the node closes. Only a node closed while its
// disk still fails returns the error to Raft.
func (s watchedStore) Set(key, val []byte) error {
	return s.w.persist(func() error { return s.LogStore.Set(key, val) })
}

func (s watchedStore) SetUint64(key []byte, val uint64) error {
	return s.w.persist(func() error { return s.LogStore.SetUint64(key, val) })
}

// Backoff between retries of a failed stable-store write.
const (
	minPersistBackoff = 50 * time.Millisecond
	maxPersistBackoff = 2 * time.Second
)

// persist runs write until it succeeds, or until the node closes.
func (w *storageWatch) persist(write func() error) error {
	backoff := minPersistBackoff
	for {
		err := write()
		w.observe("persist term or vote", err)
		if err == nil || w.closing == nil {
			return err
		}
		timer := time.NewTimer(backoff)
		select {
		case <-timer.C:
		case <-w.closing:
			timer.Stop()
			return err
		}
		backoff = min(2*backoff, maxPersistBackoff)
	}
}

// IsMonotonic passes on the wrapped store's answer (raft-wal's is true).
func (s watchedStore) IsMonotonic() bool {
	m, ok := s.LogStore.(raft.MonotonicLogStore)
	return ok && m.IsMonotonic()
}
