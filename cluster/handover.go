package cluster

import (
	"context"
	"time"
)

// handoverPoll is how often a leaving voter looks again for a non-voter to
// take its seat.
const handoverPoll = 100 * time.Millisecond

// handOverSeat promotes the non-voter planHandover picks before this voter
// leaves. While none is promotable but one is back on its own data and
// catching up, it asks the reconciler for fresh rounds and waits, within ctx
// and at most ServerStabilizationTime. A failure is logged: the reconciler
// fills the seat later.
func (n *Node) handOverSeat(ctx context.Context) {
	p := n.server.policy()
	ctx, cancel := context.WithTimeout(ctx, p.Stabilization)
	defer cancel()
	for {
		st := n.group.Load()
		if st == nil {
			return
		}
		if c, ok := planHandover(st, p); ok {
			n.promoteHeir(ctx, c)
			return
		}
		if !(reconcileInput{groupState: st, Policy: p}).awaitingReturn() {
			return
		}
		n.events.poke()
		t := time.NewTimer(handoverPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			n.logger.Info("leave: no non-voter caught up in time to take the voter seat")
			return
		case <-t.C:
		}
	}
}

func (n *Node) promoteHeir(ctx context.Context, c change) {
	if err := n.cons.Promote(ctx, c.ID); err != nil {
		n.logger.Warn("leave: seat handover failed", "server", c.ID, "error", err)
		return
	}
	n.logger.Info("leave: handed the voter seat over", "server", c.ID, "reason", c.Reason)
}
