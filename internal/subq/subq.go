// Package subq is the subscription queue behind every Subscribe in Conclave:
// a bounded queue between a producer that must never wait (gossip, Raft) and
// one consumer reading a channel.
//
// A [Queue] holds at most its size of values. [Queue.Push] never blocks: when
// the queue is full the value is dropped and counted in [Queue.Dropped]. A
// goroutine of the queue hands the values, in push order, to the channel
// returned by [Queue.Events]. [Queue.Close] stops that goroutine, closes the
// channel, discards what is still queued and waits for the goroutine to
// exit. A [Group] fans values out to many queues and closes them together.
package subq

import (
	"sync"
	"sync/atomic"
)

// DefaultSize is the size of a queue asked for with a size of zero or less.
const DefaultSize = 1024

// Queue is a bounded queue with counted drops and a delivery goroutine. Its
// methods are safe for concurrent use.
type Queue[T any] struct {
	out     chan T
	wake    chan struct{} // capacity 1: "the queue may be non-empty"
	done    chan struct{} // closed by Close
	exited  chan struct{} // closed when the delivery goroutine returns
	limit   int
	dropped atomic.Uint64
	group   *Group[T] // the group that feeds q, if any

	mu     sync.Mutex // guards items and closed
	items  []T        // items[0] is being delivered
	closed bool

	closeOnce sync.Once
}

// New returns a queue of size values (DefaultSize when size <= 0) and starts
// its delivery goroutine.
func New[T any](size int) *Queue[T] {
	q := newQueue[T](size)
	go q.deliver()
	return q
}

func newQueue[T any](size int) *Queue[T] {
	if size <= 0 {
		size = DefaultSize
	}
	return &Queue[T]{
		out:    make(chan T),
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
		limit:  size,
	}
}

// closedQueue returns a queue that is already closed and has no goroutine.
func closedQueue[T any]() *Queue[T] {
	q := newQueue[T](0)
	q.closed = true
	q.closeOnce.Do(func() { close(q.done) })
	close(q.out)
	close(q.exited)
	return q
}

// Events returns the channel the values are delivered on. It is closed by
// Close.
func (q *Queue[T]) Events() <-chan T { return q.out }

// Dropped returns how many values were discarded because the queue was full.
func (q *Queue[T]) Dropped() uint64 { return q.dropped.Load() }

// Push queues v without blocking. It reports false when v was dropped
// because the queue is full (counted in Dropped) or closed (not counted).
func (q *Queue[T]) Push(v T) bool {
	q.mu.Lock()
	switch {
	case q.closed:
		q.mu.Unlock()
		return false
	case len(q.items) >= q.limit:
		q.mu.Unlock()
		q.dropped.Add(1)
		return false
	}
	q.items = append(q.items, v)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return true
}

// Close stops delivery, discards what is queued and closes the Events
// channel. It is idempotent and returns once the delivery goroutine has
// exited.
func (q *Queue[T]) Close() {
	q.closeOnce.Do(func() {
		q.mu.Lock()
		q.closed = true
		q.items = nil
		q.mu.Unlock()
		close(q.done)
		if q.group != nil {
			q.group.remove(q)
		}
	})
	<-q.exited
}

// deliver hands queued values to out until Close. A value stays in the
// queue, and counts against its size, until the consumer has taken it.
func (q *Queue[T]) deliver() {
	defer close(q.exited)
	defer close(q.out)
	for {
		v, ok := q.head()
		if !ok {
			select {
			case <-q.wake:
				continue
			case <-q.done:
				return
			}
		}
		select {
		case q.out <- v:
			q.pop()
		case <-q.done:
			return
		}
	}
}

func (q *Queue[T]) head() (T, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		var zero T
		return zero, false
	}
	return q.items[0], true
}

func (q *Queue[T]) pop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return // Close discarded the queue
	}
	var zero T
	q.items[0] = zero
	q.items = q.items[1:]
	if len(q.items) == 0 {
		q.items = nil
	}
}
