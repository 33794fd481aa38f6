package subq

import "sync"

// Group fans values out to a set of queues. Its zero value is ready to use;
// its methods are safe for concurrent use and never block on a consumer.
type Group[T any] struct {
	mu     sync.Mutex // guards queues, closed and gone
	queues map[*Queue[T]]struct{}
	closed bool
	gone   uint64 // values dropped by queues no longer in queues
}

// Subscribe returns a new queue of size values (DefaultSize when size <= 0)
// fed by Publish until it or the group is closed. After the group is closed
// it returns a closed queue.
func (g *Group[T]) Subscribe(size int) *Queue[T] {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return closedQueue[T]()
	}
	q := newQueue[T](size)
	q.group = g
	if g.queues == nil {
		g.queues = make(map[*Queue[T]]struct{})
	}
	g.queues[q] = struct{}{}
	go q.deliver()
	return q
}

// Publish pushes each value to every queue of the group, in order. A full
// queue drops the value and counts it; no queue is waited for.
func (g *Group[T]) Publish(vs ...T) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for q := range g.queues {
		for _, v := range vs {
			q.Push(v)
		}
	}
}

// Close closes every queue of the group and waits for their goroutines.
// Later Subscribe calls return closed queues. It is idempotent.
func (g *Group[T]) Close() {
	g.mu.Lock()
	g.closed = true
	queues := make([]*Queue[T], 0, len(g.queues))
	for q := range g.queues {
		queues = append(queues, q)
		g.gone += q.Dropped()
	}
	clear(g.queues)
	g.mu.Unlock()
	for _, q := range queues {
		q.Close()
	}
}

func (g *Group[T]) remove(q *Queue[T]) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.queues[q]; ok {
		delete(g.queues, q)
		g.gone += q.Dropped()
	}
}

// Stats returns the number of open queues and the values dropped by every
// queue the group ever fed, closed ones included.
func (g *Group[T]) Stats() (open int, dropped uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	dropped = g.gone
	for q := range g.queues {
		dropped += q.Dropped()
	}
	return len(g.queues), dropped
}
