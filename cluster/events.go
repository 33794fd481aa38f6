package cluster

import (
	"fmt"
	"sync"

	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/internal/subq"
	"github.com/conclave-go/conclave/membership"
)

// EventType says what an [Event] reports.
type EventType uint8

const (
	// EventMemberJoin: a member became alive.
	EventMemberJoin EventType = iota + 1
	// EventMemberUpdate: an alive member changed its tags.
	EventMemberUpdate
	// EventMemberLeave: a member left gracefully.
	EventMemberLeave
	// EventMemberFailed: failure detection declared a member unreachable.
	EventMemberFailed
	// EventMemberReap: a failed or left member was forgotten.
	EventMemberReap
	// EventLeaderChange: this server saw a new leader, or lost it (Leader
	// is then zero). Client nodes do not follow Raft and never see it.
	EventLeaderChange
)

// String returns the event type's name.
func (t EventType) String() string {
	switch t {
	case EventMemberJoin:
		return "member-join"
	case EventMemberUpdate:
		return "member-update"
	case EventMemberLeave:
		return "member-leave"
	case EventMemberFailed:
		return "member-failed"
	case EventMemberReap:
		return "member-reap"
	case EventLeaderChange:
		return "leader-change"
	}
	return fmt.Sprintf("event(%d)", uint8(t))
}

// Event is one change seen by this node: to a member (Member is set) or to
// the leadership (Leader is set).
type Event struct {
	Type   EventType
	Member membership.Member
	Leader consensus.LeaderInfo
}

// String returns e.g. "member-join n2", "leader-change n1 term 3", or
// "leader-change none" when the leader is lost.
func (e Event) String() string {
	if e.Type != EventLeaderChange {
		return fmt.Sprintf("%s %s", e.Type, e.Member.Name)
	}
	if e.Leader.Name == "" {
		return fmt.Sprintf("%s none", e.Type)
	}
	return fmt.Sprintf("%s %s term %d", e.Type, e.Leader.Name, e.Leader.Term)
}

func memberEventType(t membership.EventType) EventType {
	switch t {
	case membership.EventJoin:
		return EventMemberJoin
	case membership.EventUpdate:
		return EventMemberUpdate
	case membership.EventLeave:
		return EventMemberLeave
	case membership.EventFailed:
		return EventMemberFailed
	default:
		return EventMemberReap
	}
}

// Subscription delivers a node's membership and leadership events, merged,
// to one consumer. It has a bounded queue: when the consumer falls behind,
// new events are dropped and counted in Dropped, and the consumer should
// resynchronise from [Node.Members] and [Node.Leader]. Gossip and Raft never
// wait for a consumer.
type Subscription struct {
	q    *subq.Queue[Event]
	hub  *eventHub
	base uint64 // the hub's own drops when the subscription was made
}

// Events returns the channel of events. It is closed after Close, or once
// the node is closed; events still queued then are discarded.
func (s *Subscription) Events() <-chan Event { return s.q.Events() }

// Dropped returns how many events were discarded because the queue was full,
// this subscription's queue or the node's queues it merges from.
func (s *Subscription) Dropped() uint64 {
	return s.q.Dropped() + s.hub.dropped() - s.base
}

// Close stops delivery and closes the Events channel. It is safe to call more
// than once and returns after the delivery goroutine has exited.
func (s *Subscription) Close() { s.q.Close() }

// Subscribe returns a subscription with a queue of size events (1024 when
// size <= 0). It may be called before Start, to see the first joins and the
// first leader.
func (n *Node) Subscribe(size int) *Subscription {
	base := n.events.dropped()
	return &Subscription{q: n.events.subs.Subscribe(size), hub: n.events, base: base}
}

// eventHub merges a node's membership and leader subscriptions into one
// stream and fans it out to the node's subscriptions. Its goroutine only
// queues, so it never waits for a consumer.
type eventHub struct {
	subs subq.Group[Event]
	wake chan struct{} // capacity 1: "an event happened", for the reconciler

	mu      sync.Mutex // guards members, leaders, done
	members *membership.Subscription
	leaders *consensus.LeaderSubscription // nil on a client
	done    chan struct{}                 // closed when forward returns; nil before follow
}

// follow starts merging from members and leaders (nil on a client). It is
// called once, at Start, before membership starts.
func (h *eventHub) follow(members *membership.Subscription, leaders *consensus.LeaderSubscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.members, h.leaders, h.done = members, leaders, make(chan struct{})
	var lead <-chan consensus.LeaderInfo
	if leaders != nil {
		lead = leaders.Events()
	}
	go h.forward(members.Events(), lead, h.done)
}

// forward publishes every event of mem and lead until both are closed.
func (h *eventHub) forward(mem <-chan membership.Event, lead <-chan consensus.LeaderInfo, done chan struct{}) {
	defer close(done)
	for mem != nil || lead != nil {
		select {
		case me, ok := <-mem:
			if !ok {
				mem = nil
				continue
			}
			h.publish(Event{Type: memberEventType(me.Type), Member: me.Member})
		case li, ok := <-lead:
			if !ok {
				lead = nil
				continue
			}
			h.publish(Event{Type: EventLeaderChange, Leader: li})
		}
	}
}

// publish queues ev on every subscription and wakes the reconciler, without
// blocking.
func (h *eventHub) publish(ev Event) {
	h.subs.Publish(ev)
	h.poke()
}

// poke asks the reconciler for a round, without blocking.
func (h *eventHub) poke() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// dropped returns how many events the merged subscriptions dropped.
func (h *eventHub) dropped() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	var d uint64
	if h.members != nil {
		d += h.members.Dropped()
	}
	if h.leaders != nil {
		d += h.leaders.Dropped()
	}
	return d
}

// close stops the merge, waits for its goroutine and closes every
// subscription. Later subscriptions are closed from the start.
func (h *eventHub) close() {
	h.mu.Lock()
	members, leaders, done := h.members, h.leaders, h.done
	h.mu.Unlock()
	if members != nil {
		members.Close()
	}
	if leaders != nil {
		leaders.Close()
	}
	if done != nil {
		<-done
	}
	h.subs.Close()
}
