package consensus

import (
	"context"
	"errors"
	"sync"
	"time"
)

// readiness records whether a started node has caught up once: it has seen
// a leader and its state machine has applied the commit index it learned
// from that leader.
type readiness struct {
	once sync.Once
	ch   chan struct{} // closed once caught up
}

func newReadiness() *readiness { return &readiness{ch: make(chan struct{})} }

func (r *readiness) set() { r.once.Do(func() { close(r.ch) }) }

func (r *readiness) done() bool {
	select {
	case <-r.ch:
		return true
	default:
		return false
	}
}

// awaitReady runs on its own goroutine from Start until the node has caught
// up or is closing: one linearizable read-index round, retried across
// leader changes, proves that a leader exists and that the state machine
// has applied the commit index it had when the round began.
func (n *Node) awaitReady() {
	noop := func(StateMachine) error { return nil }
	for {
		err := n.Read(n.baseCtx, Linearizable, noop)
		if err == nil {
			n.ready.set()
			return
		}
		if errors.Is(err, ErrClosed) || n.baseCtx.Err() != nil {
			return
		}
		n.logger.Debug("not ready yet", "error", err)
		t := time.NewTimer(retryMaxDelay)
		select {
		case <-t.C:
		case <-n.closing:
			t.Stop()
			return
		}
	}
}

// Ready reports, without blocking, whether the node can serve: it is
// started, it has caught up once since Start (see [Node.WaitReady]) and it
// knows a leader now.
func (n *Node) Ready() bool {
	return n.usable() == nil && n.ready.done() && n.Leader().Name != ""
}

// WaitReady blocks until the node can serve: a leader is known and the
// state machine has applied the commit index this node learned from it after
// Start, so that a read on this node reflects every write acknowledged
// before the node was started. A node that started a new group becomes
// ready once it is elected. WaitReady returns nil then, ctx.Err() wrapped
// with [ErrNoLeader] when ctx ends first, and [ErrNotStarted] or [ErrClosed]
// when the node is not running.
func (n *Node) WaitReady(ctx context.Context) error {
	if err := n.usable(); err != nil {
		return err
	}
	select {
	case <-n.ready.ch:
		return nil
	case <-n.closing:
		return ErrClosed
	case <-ctx.Done():
		return errors.Join(ErrNoLeader, ctx.Err())
	}
}
