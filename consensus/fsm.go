package consensus

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/conclave-go/conclave/internal/stats"
)

// barrierExtension marks a log entry that Conclave appends itself (the barrier
// a new leader commits before it serves linearizable reads). The adapter
// consumes such entries without calling the host's state machine, but counts
// them as applied: that keeps every index a read may wait for visible to the
// adapter.
const barrierExtension = "conclave/barrier"

// Snapshot stream header: magic, version, and the index of the last entry the
// state machine had applied when the snapshot was taken. Restore reads it back
// so the adapter knows exactly which index the restored state reflects.
const (
	snapshotMagic      = "cncl"
	snapshotVersion    = 1
	snapshotHeaderSize = len(snapshotMagic) + 1 + 8
)

// applyResult is what the adapter hands back to raft for a command; raft
// passes it to the local caller through ApplyFuture.Response.
type applyResult struct {
	data []byte
	err  error
}

// fsm adapts a [StateMachine] to raft.FSM and tracks the index of the last
// entry whose effects the state machine holds. It implements
// raft.ConfigurationStore so that configuration entries advance that index
// too.
type fsm struct {
	sm     StateMachine
	logger *slog.Logger

	applied          atomic.Uint64
	snapshotFailures atomic.Uint64
	snapshots        atomic.Uint64    // written successfully
	snapshotSize     atomic.Uint64    // bytes of the latest written
	snapshotDur      *stats.Histogram // time to write each

	nwaiters atomic.Int64
	mu       sync.Mutex       // guards waiters
	waiters  []*appliedWaiter // readers waiting for applied to reach an index
}

type appliedWaiter struct {
	index uint64
	ch    chan struct{}
}

var (
	_ raft.FSM                = (*fsm)(nil)
	_ raft.ConfigurationStore = (*fsm)(nil)
	_ raft.FSMSnapshot        = (*fsmSnapshot)(nil)
)

func newFSM(sm StateMachine, logger *slog.Logger) *fsm {
	return &fsm{sm: sm, logger: logger, snapshotDur: stats.NewHistogram(stats.LatencyBounds)}
}

// Apply implements raft.FSM.
func (f *fsm) Apply(l *raft.Log) interface{} {
	if string(l.Extensions) == barrierExtension {
		f.setApplied(l.Index)
		return nil
	}
	data, err := f.sm.Apply(l.Data)
	f.setApplied(l.Index)
	return &applyResult{data: data, err: err}
}

// StoreConfiguration implements raft.ConfigurationStore.
func (f *fsm) StoreConfiguration(index uint64, _ raft.Configuration) {
	f.setApplied(index)
}

// Snapshot implements raft.FSM. It runs on raft's FSM goroutine, between two
// Apply calls, so the applied index read here is the one the view reflects.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	index := f.applied.Load()
	s, err := f.sm.Snapshot()
	if err != nil {
		f.snapshotFailures.Add(1)
		f.logger.Error("state machine snapshot failed", "error", err)
		return nil, err
	}
	return &fsmSnapshot{snap: s, index: index, fsm: f}, nil
}

// Restore implements raft.FSM: it checks the header, then streams the rest to
// the state machine.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	index, err := readSnapshotHeader(rc)
	if err != nil {
		return err
	}
	if err := f.sm.Restore(onlyReader{rc}); err != nil {
		f.logger.Error("state machine restore failed", "error", err)
		return fmt.Errorf("consensus: state machine restore: %w", err)
	}
	// A snapshot restored by an operator (Node.Restore) records the index
	// it was taken at, which may be below what this server had applied;
	// raft installs it at a higher index. The applied index never moves
	// back: the state now reflects at least every entry it had applied.
	f.setApplied(max(index, f.applied.Load()))
	return nil
}

// onlyReader hides every method but Read, so the state machine cannot close
// raft's stream.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func writeSnapshotHeader(w io.Writer, index uint64) error {
	var h [snapshotHeaderSize]byte
	copy(h[:], snapshotMagic)
	h[len(snapshotMagic)] = snapshotVersion
	binary.BigEndian.PutUint64(h[len(snapshotMagic)+1:], index)
	_, err := w.Write(h[:])
	return err
}

func readSnapshotHeader(r io.Reader) (uint64, error) {
	var h [snapshotHeaderSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, fmt.Errorf("consensus: snapshot header: %w", err)
	}
	if string(h[:len(snapshotMagic)]) != snapshotMagic {
		return 0, fmt.Errorf("consensus: snapshot header: bad magic %q", h[:len(snapshotMagic)])
	}
	if v := h[len(snapshotMagic)]; v != snapshotVersion {
		return 0, fmt.Errorf("consensus: snapshot header: unsupported version %d", v)
	}
	return binary.BigEndian.Uint64(h[len(snapshotMagic)+1:]), nil
}

// appliedIndex returns the index of the last entry the state machine holds.
func (f *fsm) appliedIndex() uint64 { return f.applied.Load() }

func (f *fsm) setApplied(index uint64) {
	f.applied.Store(index)
	if f.nwaiters.Load() == 0 {
		return
	}
	f.mu.Lock()
	kept := f.waiters[:0]
	for _, w := range f.waiters {
		if w.index <= index {
			close(w.ch)
			f.nwaiters.Add(-1)
			continue
		}
		kept = append(kept, w)
	}
	clear(f.waiters[len(kept):])
	f.waiters = kept
	f.mu.Unlock()
}

// waitApplied blocks until the state machine holds index, ctx ends or stop is
// closed.
func (f *fsm) waitApplied(ctx context.Context, index uint64, stop <-chan struct{}) error {
	if f.applied.Load() >= index {
		return nil
	}
	w := &appliedWaiter{index: index, ch: make(chan struct{})}
	f.mu.Lock()
	f.waiters = append(f.waiters, w)
	f.nwaiters.Add(1)
	f.mu.Unlock()
	if f.applied.Load() >= index {
		f.removeWaiter(w)
		return nil
	}
	select {
	case <-w.ch:
		return nil
	case <-ctx.Done():
		f.removeWaiter(w)
		return ctx.Err()
	case <-stop:
		f.removeWaiter(w)
		return ErrClosed
	}
}

func (f *fsm) removeWaiter(w *appliedWaiter) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, x := range f.waiters {
		if x == w {
			f.waiters = append(f.waiters[:i], f.waiters[i+1:]...)
			f.nwaiters.Add(-1)
			return
		}
	}
}

// fsmSnapshot streams a state machine snapshot into raft's sink, behind the
// Conclave header. Nothing is buffered here beyond the sink's own buffer.
type fsmSnapshot struct {
	snap  Snapshot
	index uint64
	fsm   *fsm
}

// Persist implements raft.FSMSnapshot.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	start := time.Now()
	w := &countingWriter{w: sink}
	err := writeSnapshotHeader(w, s.index)
	if err == nil {
		err = s.snap.Write(w)
	}
	if err != nil {
		s.fsm.snapshotFailures.Add(1)
		s.fsm.logger.Error("state machine snapshot write failed", "error", err)
		_ = sink.Cancel()
		return err
	}
	if err := sink.Close(); err != nil {
		s.fsm.snapshotFailures.Add(1)
		return err
	}
	s.fsm.snapshots.Add(1)
	s.fsm.snapshotSize.Store(w.n)
	s.fsm.snapshotDur.ObserveDuration(time.Since(start))
	return nil
}

// Release implements raft.FSMSnapshot.
func (s *fsmSnapshot) Release() { s.snap.Release() }
