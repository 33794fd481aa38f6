package membership

import (
	"sync"
	"time"

	"github.com/conclave-go/conclave/internal/subq"
)

// Subscription delivers membership events to one consumer.
//
// Events go into a bounded queue that a goroutine of the subscription drains
// into the channel returned by Events, so gossip never waits for the
// consumer. When the queue is full, new events are dropped and counted in
// Dropped; a consumer that sees Dropped grow should resynchronise from
// Membership.Members. Events for one member arrive in the order they
// happened.
type Subscription struct{ q *subq.Queue[Event] }

// Events returns the channel of events. It is closed after Close, or after
// the Membership is closed; events still queued then are discarded.
func (s *Subscription) Events() <-chan Event { return s.q.Events() }

// Dropped returns how many events were discarded because the queue was full.
func (s *Subscription) Dropped() uint64 { return s.q.Dropped() }

// Close stops delivery and closes the Events channel. It is safe to call more
// than once and returns after the delivery goroutine has exited.
func (s *Subscription) Close() { s.q.Close() }

// hub holds the member table and the subscriptions. Its lock orders every
// change to the table with the queueing of the events it causes, so each
// subscriber sees changes in table order; queueing never waits for a
// consumer.
type hub struct {
	mu    sync.Mutex // guards table, and orders publishing
	table *table
	subs  subq.Group[Event]

	counts counters // for Stats
}

func newHub(local string) *hub {
	return &hub{table: newTable(local)}
}

// change applies f to the table and queues the events it returns.
func (h *hub) change(f func(t *table, now time.Time) []Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	evs := f(h.table, time.Now())
	h.counts.countEvents(evs)
	h.subs.Publish(evs...)
}

// read runs f with the table locked.
func (h *hub) read(f func(t *table)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f(h.table)
}

func (h *hub) subscribe(size int) *Subscription {
	return &Subscription{q: h.subs.Subscribe(size)}
}

// close closes every subscription and waits for their goroutines.
func (h *hub) close() { h.subs.Close() }
