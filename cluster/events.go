package cluster

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/conclave-go/conclave/consensus"
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

// String returns e.g. "member-join n2" or "leader-change n1 term 3".
func (e Event) String() string {
	if e.Type == EventLeaderChange {
		return fmt.Sprintf("%s %s term %d", e.Type, e.Leader.ID, e.Leader.Term)
	}
	return fmt.Sprintf("%s %s", e.Type, e.Member.Name)
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
	ch      chan Event
	dropped atomic.Uint64 // events this subscription dropped
	below   []interface{ Dropped() uint64 }
	stop    chan struct{}
	once    sync.Once
	done    chan struct{}
}

// Events returns the channel of events. It is closed after Close or once
// the node stops.
func (s *Subscription) Events() <-chan Event { return s.ch }

// Dropped returns how many events were discarded because the queue was full.
// That counts the drops of the membership and leadership queues it merges.
func (s *Subscription) Dropped() uint64 {
	d := s.dropped.Load()
	for _, b := range s.below {
		d += b.Dropped()
	}
	return d
}

// Close ends the subscription and waits for its goroutine.
func (s *Subscription) Close() {
	s.once.Do(func() { close(s.stop) })
	<-s.done
}

// Subscribe returns a subscription with a queue of size events (64 when
// size <= 0). The node must be started.
func (n *Node) Subscribe(size int) (*Subscription, error) {
	mem, err := n.membership()
	if err != nil {
		return nil, err
	}
	if size <= 0 {
		size = 64
	}
	s := &Subscription{ch: make(chan Event, size), stop: make(chan struct{}), done: make(chan struct{})}
	msub := mem.Subscribe(size)
	s.below = append(s.below, msub)
	var lead <-chan consensus.LeaderInfo
	var watch *consensus.LeaderSubscription
	if n.cons != nil {
		watch = n.cons.SubscribeLeader(size)
		lead = watch.Events()
		s.below = append(s.below, watch)
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer close(s.done)
		defer close(s.ch)
		defer msub.Close()
		if watch != nil {
			defer watch.Close()
		}
		s.pump(n, msub.Events(), lead)
	}()
	return s, nil
}

func (s *Subscription) pump(n *Node, mem <-chan membership.Event, lead <-chan consensus.LeaderInfo) {
	for {
		var ev Event
		select {
		case <-s.stop:
			return
		case <-n.ctx.Done():
			return
		case me, ok := <-mem:
			if !ok {
				return
			}
			ev = Event{Type: memberEventType(me.Type), Member: me.Member}
		case li, ok := <-lead:
			if !ok {
				lead = nil
				continue
			}
			ev = Event{Type: EventLeaderChange, Leader: li}
		}
		select {
		case s.ch <- ev:
		default:
			s.dropped.Add(1)
		}
	}
}
