package cluster

import (
	"context"
	"time"
)

// heirPoll is how often a voter about to go away looks again for the
// server that will take its seat.
const heirPoll = 100 * time.Millisecond

// closeHeirWait bounds how long Close waits for a returning server to regain
// its voter seat before this voter stops.
const closeHeirWait = time.Second

// awaitHeir waits, within ctx, while a server back on its own data is on its
// way to a voter seat (awaitingReturn), asking the reconciler for fresh
// rounds, and returns the latest group state (nil before the first round).
// A voter about to go away calls it, so that the group does not lose a
// voter's worth of failure tolerance for a seat that was about to be filled.
func (n *Node) awaitHeir(ctx context.Context) *groupState {
	p := n.server.policy()
	for {
		st := n.group.Load()
		if st == nil || !st.voter(n.cfg.Name) || !(reconcileInput{groupState: st, Policy: p}).awaitingReturn() {
			return st
		}
		n.events.poke()
		t := time.NewTimer(heirPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			n.logger.Info("stopping before a returning server regained its voter seat")
			return n.group.Load()
		case <-t.C:
		}
	}
}

// handOverSeat, before this voter leaves, waits for a returning server (at
// most ServerStabilizationTime), then promotes the non-voter planHandover
// picks, if any. A failure is logged: the reconciler fills the seat later.
func (n *Node) handOverSeat(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, n.server.ServerStabilizationTime)
	defer cancel()
	st := n.awaitHeir(ctx)
	if st == nil {
		return
	}
	c, ok := planHandover(st, n.server.policy())
	if !ok {
		return
	}
	if err := n.cons.Promote(ctx, c.ID); err != nil {
		n.logger.Warn("leave: seat handover failed", "server", c.ID, "error", err)
		return
	}
	n.logger.Info("leave: handed the voter seat over", "server", c.ID, "reason", c.Reason)
}

// awaitHeirOnClose is awaitHeir for Close, bounded by closeHeirWait.
func (n *Node) awaitHeirOnClose() {
	ctx, cancel := context.WithTimeout(n.ctx, min(closeHeirWait, n.server.ServerStabilizationTime))
	defer cancel()
	n.awaitHeir(ctx)
}
