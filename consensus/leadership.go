package consensus

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/conclave-go/conclave/internal/subq"
)

// LeaderInfo names a leader and the term it leads. The zero value means no
// known leader.
type LeaderInfo struct {
	Name string
	Addr string
	Term uint64
}

// Leader returns the leader this node currently knows of.
func (n *Node) Leader() LeaderInfo {
	r := n.raftOrNil()
	if r == nil {
		return LeaderInfo{}
	}
	addr, id := r.LeaderWithID()
	if id == "" {
		return LeaderInfo{}
	}
	return LeaderInfo{Name: string(id), Addr: string(addr), Term: r.CurrentTerm()}
}

// LeaderSubscription delivers leader changes, from [Node.SubscribeLeader],
// to one consumer.
//
// Observations go into a bounded queue that a goroutine of the subscription
// drains into the channel returned by Events, so Raft never waits for the
// consumer. When the queue is full, new observations are dropped and counted
// in Dropped; resynchronise with [Node.Leader].
type LeaderSubscription struct{ q *subq.Queue[LeaderInfo] }

// Events delivers an observation each time the known leader changes (the
// zero LeaderInfo when it is lost). It is closed after Close, or after the
// node is closed; observations still queued then are discarded.
func (s *LeaderSubscription) Events() <-chan LeaderInfo { return s.q.Events() }

// Dropped returns how many observations were discarded because the queue
// was full.
func (s *LeaderSubscription) Dropped() uint64 { return s.q.Dropped() }

// Close stops delivery and closes the Events channel. It is safe to call
// more than once and returns after the delivery goroutine has exited.
func (s *LeaderSubscription) Close() { s.q.Close() }

// SubscribeLeader returns a subscription to leader changes with a queue of
// size observations (1024 when size <= 0). It may be called before Start,
// to see the first leader.
func (n *Node) SubscribeLeader(size int) *LeaderSubscription {
	return &LeaderSubscription{q: n.lead.subs.Subscribe(size)}
}

// OnLeader registers fn to run each time this node becomes leader, once its
// state machine has applied every entry committed before its term (a
// barrier). fn runs on its own goroutine with a context that is cancelled
// the moment leadership is lost (or the node closes), and with the term,
// which increases with every leadership and can serve as a fencing token.
// fn must return soon after ctx is done: Close waits for it. If the node
// already leads when OnLeader is called, fn starts at once for that term.
func (n *Node) OnLeader(fn func(ctx context.Context, term uint64)) {
	n.lead.onLeader(fn)
}

// leadership follows raft's observations: it feeds the leader
// subscriptions, runs the per-term leader session (barrier, readiness,
// callbacks) and wakes requests waiting for a leader change.
type leadership struct {
	n *Node

	// readyTerm is the term in which this node, as leader, has committed and
	// applied its barrier; linearizable reads are served only in that term.
	readyTerm atomic.Uint64

	subs subq.Group[LeaderInfo]

	mu        sync.Mutex // guards the fields below
	callbacks []func(context.Context, uint64)
	session   *leaderSession // nil when not leader
	changed   chan struct{}  // closed and replaced on every change
	closed    bool
	lastAddr  string // address of the last leader known, kept while none is
}

// leaderSession is one term of leadership.
type leaderSession struct {
	term   uint64
	ctx    context.Context
	cancel context.CancelFunc
	ready  bool // guarded by leadership.mu
}

func newLeadership(n *Node) *leadership {
	return &leadership{n: n, changed: make(chan struct{})}
}

// changedCh returns a channel closed at the next leader or state change.
func (l *leadership) changedCh() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

// signalLocked wakes everyone waiting on changedCh.
func (l *leadership) signalLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// observe runs on the node's observer goroutine for each raft observation.
// It must never block: raft's main loop waits for it.
func (l *leadership) observe(o raft.Observation) {
	switch d := o.Data.(type) {
	case raft.LeaderObservation:
		info := LeaderInfo{Name: string(d.LeaderID), Addr: string(d.LeaderAddr)}
		if info.Name != "" {
			info.Term = o.Raft.CurrentTerm()
		}
		l.publish(info)
	case raft.RaftState:
		l.stateChanged(d)
	}
}

// publish delivers a leader change to every subscription. Queueing never
// blocks, so holding the lock across it is safe, and it keeps the order.
func (l *leadership) publish(info LeaderInfo) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.signalLocked()
	l.n.met.leaderSeen(info)
	if info.Addr != "" {
		if l.lastAddr != "" && l.lastAddr != info.Addr {
			l.n.abandonLeader(l.lastAddr)
		}
		l.lastAddr = info.Addr
	}
	l.subs.Publish(info)
}

// stateChanged starts a leader session when raft enters the leader state and
// ends it on any other state.
func (l *leadership) stateChanged(state raft.RaftState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.signalLocked()
	if state != raft.Leader {
		l.endSessionLocked()
		return
	}
	term := l.n.raft.CurrentTerm()
	if l.session != nil && l.session.term == term {
		return
	}
	l.endSessionLocked()
	if l.closed {
		return
	}
	ctx, cancel := context.WithCancel(l.n.baseCtx)
	s := &leaderSession{term: term, ctx: ctx, cancel: cancel}
	if !l.n.spawn(func() { l.runSession(s) }) {
		cancel()
		return
	}
	l.session = s
}

func (l *leadership) endSessionLocked() {
	if l.session != nil {
		l.session.cancel()
		l.session = nil
	}
}

// runSession commits a barrier in the session's term, then marks the node
// ready for linearizable reads and starts the OnLeader callbacks.
func (l *leadership) runSession(s *leaderSession) {
	if !l.barrier(s) {
		return
	}
	r := l.n.raft
	if r.State() != raft.Leader || r.CurrentTerm() != s.term {
		return // a newer session follows
	}
	l.readyTerm.Store(s.term)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.session != s || s.ctx.Err() != nil {
		return
	}
	s.ready = true
	l.n.logger.Info("leader ready", "term", s.term)
	for _, fn := range l.callbacks {
		l.startCallbackLocked(s, fn)
	}
}

// barrier commits and applies a barrier entry, retrying until it succeeds or
// the session ends.
func (l *leadership) barrier(s *leaderSession) bool {
	delay := retryMinDelay
	for s.ctx.Err() == nil {
		_, err := l.n.applyLocal(s.ctx, raft.Log{Extensions: []byte(barrierExtension)})
		if err == nil {
			return true
		}
		if errors.Is(err, ErrClosed) {
			return false
		}
		l.n.logger.Debug("leader barrier failed, retrying", "term", s.term, "error", err)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-s.ctx.Done():
		}
		t.Stop()
		delay = min(2*delay, retryMaxDelay)
	}
	return false
}

func (l *leadership) onLeader(fn func(context.Context, uint64)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.callbacks = append(l.callbacks, fn)
	if l.session != nil && l.session.ready {
		l.startCallbackLocked(l.session, fn)
	}
}

func (l *leadership) startCallbackLocked(s *leaderSession, fn func(context.Context, uint64)) {
	l.n.spawn(func() { fn(s.ctx, s.term) })
}

// close ends the session and every subscription.
func (l *leadership) close() {
	l.mu.Lock()
	l.closed = true
	l.endSessionLocked()
	l.mu.Unlock()
	l.subs.Close()
}
