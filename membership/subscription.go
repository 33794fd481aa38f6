package membership

import (
	"sync"
	"sync/atomic"
	"time"
)

// DefaultQueueSize is the queue length of a subscription asked for with a
// size of zero or less.
const DefaultQueueSize = 1024

// Subscription delivers membership events to one consumer.
//
// Events go into a bounded queue that a goroutine of the subscription drains
// into the channel returned by Events, so gossip never waits for the
// consumer. When the queue is full, new events are dropped and counted in
// Dropped; a consumer that sees Dropped grow should resynchronise from
// Membership.Members. Events for one member arrive in the order they
// happened.
type Subscription struct {
	out     chan Event
	wake    chan struct{} // capacity 1: "the queue may be non-empty"
	done    chan struct{} // closed by Close
	exited  chan struct{} // closed when the pump goroutine returns
	limit   int
	dropped atomic.Uint64

	mu    sync.Mutex // guards queue
	queue []Event

	closeOnce sync.Once
	detach    func(*Subscription)
}

// Events returns the channel of events. It is closed after Close, or after
// the Membership is closed; events still queued then are discarded.
func (s *Subscription) Events() <-chan Event { return s.out }

// Dropped returns how many events were discarded because the queue was full.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close stops delivery and closes the Events channel. It is safe to call more
// than once and returns after the delivery goroutine has exited.
func (s *Subscription) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		if s.detach != nil {
			s.detach(s)
		}
	})
	<-s.exited
}

// enqueue appends ev or counts it as dropped. It never blocks.
func (s *Subscription) enqueue(ev Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) >= s.limit {
		s.dropped.Add(1)
		return
	}
	s.queue = append(s.queue, ev)
}

// notify wakes the delivery goroutine without blocking.
func (s *Subscription) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Subscription) pop() (Event, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return Event{}, false
	}
	ev := s.queue[0]
	s.queue[0] = Event{}
	s.queue = s.queue[1:]
	if len(s.queue) == 0 {
		s.queue = nil
	}
	return ev, true
}

// pump delivers queued events to out until Close.
func (s *Subscription) pump() {
	defer close(s.exited)
	defer close(s.out)
	for {
		ev, ok := s.pop()
		if !ok {
			select {
			case <-s.wake:
				continue
			case <-s.done:
				return
			}
		}
		select {
		case s.out <- ev:
		case <-s.done:
			return
		}
	}
}

// hub holds the member table and the subscriptions. Its lock orders every
// change to the table with the queueing of the events it causes, so each
// subscriber sees changes in table order; nothing is sent on a channel while
// the lock is held.
type hub struct {
	mu     sync.Mutex // guards table, subs, closed
	table  *table
	subs   map[*Subscription]struct{}
	closed bool
	pumps  sync.WaitGroup
}

func newHub(local string) *hub {
	return &hub{table: newTable(local), subs: make(map[*Subscription]struct{})}
}

// change applies f to the table and queues the events it returns.
func (h *hub) change(f func(t *table, now time.Time) []Event) {
	h.mu.Lock()
	evs := f(h.table, time.Now())
	var woken []*Subscription
	if len(evs) > 0 && !h.closed {
		for s := range h.subs {
			for _, ev := range evs {
				s.enqueue(ev)
			}
			woken = append(woken, s)
		}
	}
	h.mu.Unlock()
	for _, s := range woken {
		s.notify()
	}
}

// read runs f with the table locked.
func (h *hub) read(f func(t *table)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f(h.table)
}

func (h *hub) subscribe(limit int) *Subscription {
	if limit <= 0 {
		limit = DefaultQueueSize
	}
	s := &Subscription{
		out:    make(chan Event),
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
		limit:  limit,
		detach: h.detach,
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		s.closeOnce.Do(func() { close(s.done) })
		close(s.out)
		close(s.exited)
		return s
	}
	h.subs[s] = struct{}{}
	h.pumps.Add(1)
	go func() {
		defer h.pumps.Done()
		s.pump()
	}()
	return s
}

func (h *hub) detach(s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, s)
}

// close closes every subscription and waits for their goroutines.
func (h *hub) close() {
	h.mu.Lock()
	h.closed = true
	subs := make([]*Subscription, 0, len(h.subs))
	for s := range h.subs {
		subs = append(subs, s)
	}
	h.mu.Unlock()
	for _, s := range subs {
		s.Close()
	}
	h.pumps.Wait()
}
