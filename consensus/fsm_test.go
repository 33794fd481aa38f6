package consensus

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/logadapt"
	"github.com/conclave-go/conclave/internal/testkit"
)

// memSink is a raft.SnapshotSink over a buffer.
type memSink struct {
	bytes.Buffer
	cancelled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Close() error  { return nil }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }

func TestFSMAdapterTracksAppliedIndex(t *testing.T) {
	kv := newKV()
	f := newFSM(kv, logadapt.Discard())
	res := f.Apply(&raft.Log{Index: 5, Data: []byte("set:a=1")}).(*applyResult)
	require.NoError(t, res.err)
	require.Equal(t, uint64(5), f.appliedIndex())
	res = f.Apply(&raft.Log{Index: 6, Data: []byte("err:no")}).(*applyResult)
	require.EqualError(t, res.err, "no")
	require.Equal(t, uint64(6), f.appliedIndex(), "an FSM error still applies the entry")
	require.Nil(t, f.Apply(&raft.Log{Index: 7, Extensions: []byte(barrierExtension)}))
	require.Equal(t, int64(2), kv.applied.Load(), "barriers never reach the state machine")
	f.StoreConfiguration(8, raft.Configuration{})
	require.Equal(t, uint64(8), f.appliedIndex())

	// Snapshot carries the index; Restore into a fresh adapter recovers it.
	snap, err := f.Snapshot()
	require.NoError(t, err)
	sink := &memSink{}
	require.NoError(t, snap.Persist(sink))
	snap.Release()
	kv2 := newKV()
	f2 := newFSM(kv2, logadapt.Discard())
	require.NoError(t, f2.Restore(io.NopCloser(&sink.Buffer)))
	require.Equal(t, uint64(8), f2.appliedIndex())
	v, _ := kv2.get("a")
	require.Equal(t, "1", v)

	require.Error(t, f2.Restore(io.NopCloser(bytes.NewReader([]byte("garbage")))))
}

type failWrite struct{ *kvFSM }

func (failWrite) Snapshot() (Snapshot, error) {
	return SnapshotFunc{WriteFunc: func(io.Writer) error { return errors.New("io") }}, nil
}

func TestFSMSnapshotWriteFailure(t *testing.T) {
	f := newFSM(failWrite{newKV()}, logadapt.Discard())
	snap, err := f.Snapshot()
	require.NoError(t, err)
	sink := &memSink{}
	require.Error(t, snap.Persist(sink))
	require.True(t, sink.cancelled)
	require.Equal(t, uint64(1), f.snapshotFailures.Load())
}

func TestWaitApplied(t *testing.T) {
	f := newFSM(newKV(), logadapt.Discard())
	stop := make(chan struct{})
	require.NoError(t, f.waitApplied(context.Background(), 0, stop))

	done := make(chan error, 2)
	go func() { done <- f.waitApplied(context.Background(), 3, stop) }()
	go func() { done <- f.waitApplied(context.Background(), 10, stop) }()
	testkit.WaitFor(t, 5*time.Second, func() bool { return f.nwaiters.Load() == 2 }, "two waiters")
	f.setApplied(3)
	require.NoError(t, <-done)
	require.Equal(t, int64(1), f.nwaiters.Load())
	close(stop)
	require.ErrorIs(t, <-done, ErrClosed)
	require.Zero(t, f.nwaiters.Load())

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, f.waitApplied(ctx, 99, make(chan struct{})), context.Canceled)
}

func TestReadIndexerBatches(t *testing.T) {
	calls := make(chan chan struct{})
	ri := newReadIndexer(func() (uint64, error) {
		release := make(chan struct{})
		calls <- release
		<-release
		return 7, nil
	})
	stop := make(chan struct{})
	go ri.run(stop)
	defer close(stop)

	results := make(chan uint64, 10)
	get := func() {
		idx, err := ri.get(context.Background(), stop)
		if err == nil {
			results <- idx
		}
	}
	go get()
	first := <-calls // round 1 in progress
	for range 5 {
		go get() // these join round 2
	}
	testkit.WaitFor(t, 5*time.Second, func() bool {
		ri.mu.Lock()
		defer ri.mu.Unlock()
		return ri.pending != nil && ri.pending.readers == 5
	}, "five readers waiting for the next round")
	close(first)
	second := <-calls
	close(second)
	for range 6 {
		require.Equal(t, uint64(7), <-results)
	}
	select {
	case <-calls:
		t.Fatal("a third round was started for requests already served")
	default:
	}
}
