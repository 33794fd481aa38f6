package membership

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/conclave-go/conclave/internal/subq"
)

// seenSize is how many Lamport times of events and of queries a node
// remembers to drop duplicates. An event that arrives after the cluster's
// clock moved on by more than this is dropped as too old.
const seenSize = 512

// UserEvent is an application event broadcast with [Membership.Broadcast].
type UserEvent struct {
	// Name and Payload are as broadcast.
	Name    string
	Payload []byte
	// LTime is the event's Lamport time: events of one sender have
	// increasing times, and an event sent after another was received has a
	// higher time than it.
	LTime uint64
	// Coalesced is the number of events of this name the event stands for:
	// 1, or more when Tuning.EventCoalescePeriod merged a burst into its
	// latest event.
	Coalesced int
}

// UserEventSubscription delivers user events to one consumer, under the
// same contract as [Subscription]: a bounded queue drained by a goroutine
// of its own, drops counted, gossip never waits.
type UserEventSubscription struct{ q *subq.Queue[UserEvent] }

// Events returns the channel of user events. It is closed after Close, or
// after the Membership is closed.
func (s *UserEventSubscription) Events() <-chan UserEvent { return s.q.Events() }

// Dropped returns how many events were discarded because the queue was full.
func (s *UserEventSubscription) Dropped() uint64 { return s.q.Dropped() }

// Close stops delivery and closes the Events channel; it is safe to call more
// than once.
func (s *UserEventSubscription) Close() { s.q.Close() }

// SubscribeUserEvents returns a subscription to user events with a queue of
// size events (1024 when size <= 0). It may be called before Start. Each
// event reaches each subscription once, including the events the local
// node broadcasts. Events arrive in the order they reach the node, which
// may differ from the order they were sent; LTime orders an event after
// every event its sender had seen.
func (m *Membership) SubscribeUserEvents(size int) *UserEventSubscription {
	return &UserEventSubscription{q: m.msgs.subs.Subscribe(size)}
}

// Broadcast sends a user event to every member, the local node included.
// It returns once the event is queued for gossip; delivery is
// at-least-once on the wire and once per subscription (duplicates are
// dropped by Lamport time, name and payload). name is non-empty UTF-8 of at
// most 128 bytes; name and payload must encode to at most MaxMessageSize
// bytes, or the error matches ErrTooLarge.
func (m *Membership) Broadcast(name string, payload []byte) error {
	if err := checkMsgName("event", name); err != nil {
		return err
	}
	if _, err := m.running(); err != nil {
		return err
	}
	msg := eventMsg{LTime: m.msgs.eventClock.tick(), Name: name, Payload: slices.Clone(payload)}
	b := msg.encode()
	if len(b) > MaxMessageSize {
		return fmt.Errorf("%w: user event %q of %d bytes, at most %d", ErrTooLarge, name, len(b), MaxMessageSize)
	}
	m.handleEvent(msg, b)
	return nil
}

func checkMsgName(what, name string) error {
	if err := validateName(name); err != nil || len(name) > maxMsgName {
		return fmt.Errorf("%w: %s name %q: non-empty UTF-8 of at most %d bytes", ErrInvalidArgument, what, name, maxMsgName)
	}
	return nil
}

// messaging is the state behind user events and queries.
type messaging struct {
	eventClock, queryClock lamportClock
	broadcasts             *memberlist.TransmitLimitedQueue
	subs                   subq.Group[UserEvent]

	mu         sync.Mutex // guards eventSeen, querySeen, joined, ignoreUpTo, coal
	eventSeen  *seenBuffer
	querySeen  *seenBuffer
	joined     bool          // a first state exchange happened
	ignoreUpTo uint64        // events up to this time predate the node's join
	coal       *coalescer    // nil: no coalescing
	coalWake   chan struct{} // capacity 1: "a new event is pending"

	queries queries
}

func newMessaging(cfg Config, numNodes func() int, retransmit int) *messaging {
	ms := &messaging{
		broadcasts: &memberlist.TransmitLimitedQueue{NumNodes: numNodes, RetransmitMult: retransmit},
		eventSeen:  newSeenBuffer(seenSize),
		querySeen:  newSeenBuffer(seenSize),
		coalWake:   make(chan struct{}, 1),
	}
	if p := cfg.Tuning.EventCoalescePeriod; p > 0 {
		quiet := cfg.Tuning.EventQuietPeriod
		if quiet <= 0 || quiet > p {
			quiet = p
		}
		ms.coal = newCoalescer(p, quiet)
	}
	ms.queries.init()
	return ms
}

// handleEvent delivers a user event seen for the first time and passes it
// on by gossip; a duplicate is dropped.
func (m *Membership) handleEvent(e eventMsg, raw []byte) {
	ms := m.msgs
	ms.eventClock.witness(e.LTime)
	ms.mu.Lock()
	fresh := ms.eventSeen.add(e.LTime, ms.eventClock.time(), e.Name+"\x00"+string(e.Payload), raw)
	old := e.LTime <= ms.ignoreUpTo
	ms.mu.Unlock()
	if !fresh {
		return
	}
	if old {
		return // sent before this node joined
	}
	ms.queueBroadcast(raw)
	ev := UserEvent{Name: e.Name, Payload: e.Payload, LTime: e.LTime, Coalesced: 1}
	if ms.coal == nil {
		ms.subs.Publish(ev)
		return
	}
	ms.mu.Lock()
	ms.coal.add(ev, time.Now())
	ms.mu.Unlock()
	select {
	case ms.coalWake <- struct{}{}:
	default:
	}
}

// coalesceLoop delivers coalesced events when they are due.
func (m *Membership) coalesceLoop() {
	defer m.loops.Done()
	ms := m.msgs
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-m.loopCtx.Done():
			return
		case <-ms.coalWake:
		case <-timer.C:
		}
		ms.mu.Lock()
		ready, next := ms.coal.due(time.Now())
		ms.mu.Unlock()
		ms.subs.Publish(ready...)
		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), time.Millisecond)
		}
		timer.Reset(wait)
	}
}

// userRetransmitFactor scales memberlist's RetransmitMult for events and
// queries. Each node sends each message about R = RetransmitMult *
// ceil(log10(N+1)) times to random members, so a member misses it with a
// probability near e^-R: with memberlist's R (8 on a LAN at N = 50) one
// member in a few thousand misses each event, and waits for the next
// push-pull (30 s) to get it; twice R makes that about one in ten million.
const userRetransmitFactor = 2

// maxBroadcastQueue bounds the messages waiting to be gossiped; beyond it
// the ones retransmitted most are dropped (the push-pull state still
// carries the events).
const maxBroadcastQueue = 4096

// queueBroadcast queues raw for gossip, keeping the queue bounded.
func (ms *messaging) queueBroadcast(raw []byte) {
	ms.broadcasts.QueueBroadcast(rawBroadcast(raw))
	if ms.broadcasts.NumQueued() > maxBroadcastQueue {
		ms.broadcasts.Prune(maxBroadcastQueue)
	}
}

// rawBroadcast is a gossiped message that invalidates no other.
type rawBroadcast []byte

var _ memberlist.Broadcast = rawBroadcast(nil)

func (b rawBroadcast) Invalidates(memberlist.Broadcast) bool { return false }
func (b rawBroadcast) Message() []byte                       { return b }
func (b rawBroadcast) Finished()                             {}
