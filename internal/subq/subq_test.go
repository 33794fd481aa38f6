package subq

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// next receives one value or fails the test.
func next[T any](t *testing.T, q *Queue[T]) T {
	t.Helper()
	select {
	case v, ok := <-q.Events():
		require.True(t, ok, "Events closed")
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("no value delivered")
		panic("unreachable")
	}
}

func TestQueueDeliversInOrder(t *testing.T) {
	q := New[int](0)
	defer q.Close()
	for i := range 100 {
		require.True(t, q.Push(i))
	}
	for i := range 100 {
		require.Equal(t, i, next(t, q))
	}
	require.Zero(t, q.Dropped())
}

func TestQueueDefaultSize(t *testing.T) {
	for _, size := range []int{0, -1} {
		q := New[int](size)
		pushed := 0
		for range DefaultSize + 10 {
			if q.Push(1) {
				pushed++
			}
		}
		require.Equal(t, DefaultSize, pushed, "size %d", size)
		require.Equal(t, uint64(10), q.Dropped())
		q.Close()
	}
}

// TestQueueSizeIsExact checks that a value being delivered still counts
// against the size, so drops do not depend on the goroutine's timing.
func TestQueueSizeIsExact(t *testing.T) {
	q := New[string](2)
	defer q.Close()
	for _, v := range []string{"a", "b", "c", "d"} {
		q.Push(v)
	}
	require.Equal(t, uint64(2), q.Dropped())
	require.Equal(t, "a", next(t, q))
	require.Equal(t, "b", next(t, q))
	require.True(t, q.Push("e"), "room again once taken")
	require.Equal(t, "e", next(t, q))
}

func TestQueuePushNeverBlocks(t *testing.T) {
	q := New[int](4) // nobody reads it
	defer q.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 10000 {
			q.Push(i)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a slow consumer blocked the producer")
	}
	require.Equal(t, uint64(10000-4), q.Dropped())
}

func TestQueueClose(t *testing.T) {
	q := New[int](4)
	q.Push(1)
	q.Push(2)
	q.Close()
	q.Close() // idempotent
	_, ok := <-q.Events()
	require.False(t, ok, "Close discards what is queued and closes Events")
	require.False(t, q.Push(3))
	require.Zero(t, q.Dropped(), "a push after Close is not a drop")
}

func TestQueueConcurrentClose(t *testing.T) {
	q := New[int](1)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(q.Close)
		wg.Go(func() { q.Push(1) })
	}
	wg.Wait()
	_, ok := <-q.Events()
	require.False(t, ok)
}

func TestGroupFansOut(t *testing.T) {
	var g Group[string]
	defer g.Close()
	a, b := g.Subscribe(0), g.Subscribe(1)
	g.Publish("x", "y")
	require.Equal(t, "x", next(t, a))
	require.Equal(t, "y", next(t, a))
	require.Equal(t, "x", next(t, b))
	require.Equal(t, uint64(1), b.Dropped())
	require.Zero(t, a.Dropped())
}

func TestGroupCloseClosesEveryQueue(t *testing.T) {
	var g Group[int]
	a, b := g.Subscribe(1), g.Subscribe(1)
	a.Close() // a closed queue leaves the group
	g.Publish(1)
	g.Close()
	g.Close() // idempotent
	for _, q := range []*Queue[int]{a, b} {
		for range q.Events() {
		}
	}
	late := g.Subscribe(1)
	_, ok := <-late.Events()
	require.False(t, ok, "subscribing after Close gives a closed queue")
	late.Close()
	g.Publish(2) // no queue left; nothing happens
}

func TestGroupConcurrentUse(t *testing.T) {
	var g Group[int]
	var wg sync.WaitGroup
	for range 4 {
		q := g.Subscribe(8)
		wg.Go(func() {
			for range q.Events() {
			}
		})
	}
	for i := range 4 {
		wg.Go(func() {
			for j := range 200 {
				g.Publish(i*1000 + j)
			}
		})
	}
	for range 4 {
		wg.Go(func() { g.Subscribe(2).Close() })
	}
	time.AfterFunc(20*time.Millisecond, g.Close)
	wg.Wait()
}

func TestGroupStatsCountDropsOfClosedQueues(t *testing.T) {
	var g Group[string]
	a, b := g.Subscribe(1), g.Subscribe(1)
	g.Publish("x", "y", "z") // each queue keeps x until consumed: two drops each
	open, dropped := g.Stats()
	require.Equal(t, 2, open)
	require.Equal(t, uint64(4), dropped)
	a.Close()
	open, dropped = g.Stats()
	require.Equal(t, 1, open)
	require.Equal(t, uint64(4), dropped, "a closed queue's drops still count")
	g.Close()
	open, dropped = g.Stats()
	require.Zero(t, open)
	require.Equal(t, uint64(4), dropped)
	for range b.Events() {
	}
}
