package consensus

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/testkit"
)

// failingStore is an in-memory store whose writes fail while failures > 0.
type failingStore struct {
	*raft.InmemStore
	failures atomic.Int32
}

func (s *failingStore) fail() error {
	if s.failures.Load() > 0 {
		s.failures.Add(-1)
		return &fsError{syscall.ENOSPC}
	}
	return nil
}

type fsError struct{ errno syscall.Errno }

func (e *fsError) Error() string { return "write raft.db: " + e.errno.Error() }
func (e *fsError) Unwrap() error { return e.errno }

func (s *failingStore) StoreLogs(logs []*raft.Log) error {
	if err := s.fail(); err != nil {
		return err
	}
	return s.InmemStore.StoreLogs(logs)
}

func (s *failingStore) SetUint64(key []byte, v uint64) error {
	if err := s.fail(); err != nil {
		return err
	}
	return s.InmemStore.SetUint64(key, v)
}

func (s *failingStore) Close() error { return nil }

func TestStorageWatchReportsAndClearsWriteFailures(t *testing.T) {
	store := &failingStore{InmemStore: raft.NewInmemStore()}
	w := &storageWatch{logger: testkit.Logger(t)}
	ws := watchedStore{LogStore: store, w: w}

	store.failures.Store(1)
	require.Error(t, ws.StoreLogs([]*raft.Log{{Index: 1, Term: 1}}))
	require.Contains(t, w.problem(), "disk full: writes to the Raft log fail")
	require.Contains(t, w.problem(), "free space")
	require.Equal(t, uint64(1), w.failureCount())

	require.NoError(t, ws.StoreLogs([]*raft.Log{{Index: 1, Term: 1}}))
	require.Empty(t, w.problem(), "a write that succeeds clears the failure")
}

// A failed term or vote write is retried until it succeeds, since raft
// stops the process when it cannot persist them.
func TestStorageWatchRetriesTermWrites(t *testing.T) {
	store := &failingStore{InmemStore: raft.NewInmemStore()}
	closing := make(chan struct{})
	w := &storageWatch{logger: testkit.Logger(t), closing: closing}
	ws := watchedStore{LogStore: store, w: w}

	store.failures.Store(3)
	require.NoError(t, ws.SetUint64([]byte("CurrentTerm"), 7))
	got, err := store.GetUint64([]byte("CurrentTerm"))
	require.NoError(t, err)
	require.Equal(t, uint64(7), got)
	require.Equal(t, uint64(3), w.failureCount())
	require.Empty(t, w.problem())

	// While the disk stays full the write waits; Close ends the wait.
	store.failures.Store(1 << 30)
	done := make(chan error, 1)
	go func() { done <- ws.SetUint64([]byte("CurrentTerm"), 8) }()
	testkit.WaitFor(t, 10*time.Second, func() bool { return w.failureCount() > 4 }, "retrying")
	select {
	case err := <-done:
		t.Fatalf("the write returned while the disk is full: %v", err)
	default:
	}
	require.Contains(t, w.problem(), "persist term or vote")
	close(closing)
	select {
	case err := <-done:
		require.True(t, errors.Is(err, syscall.ENOSPC), fmt.Sprint(err))
	case <-time.After(10 * time.Second):
		t.Fatal("the write did not return after close")
	}
}

func TestWatchedStorePassesMonotonic(t *testing.T) {
	require.False(t, watchedStore{LogStore: &failingStore{InmemStore: raft.NewInmemStore()}}.IsMonotonic())
}
