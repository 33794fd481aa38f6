package cluster

import (
	"context"

	"github.com/conclave-go/conclave/membership"
)

// WaitReady blocks until the node can serve requests. A server is ready
// when it knows a leader and its state machine has applied the commit index
// it learned from that leader after Start (see
// [consensus.Node.WaitReady]); a client is ready when a server it knows
// from gossip answers. It returns nil then; [ErrNoLeader] (server) or
// [ErrNoServers] (client), wrapping ctx.Err(), when ctx ends first; and
// [ErrNotStarted] or [ErrClosed] when the node is not running.
//
// A service's readiness probe calls [Node.Ready]; WaitReady suits a
// startup sequence that must not take traffic before the node can serve.
func (n *Node) WaitReady(ctx context.Context) error {
	if _, err := n.membership(); err != nil {
		return err
	}
	if n.cons != nil {
		return n.cons.WaitReady(ctx)
	}
	err := n.routes.do(ctx, func(addr string) error {
		_, err := n.client.Status(ctx, addr)
		return err
	})
	if err == nil {
		n.clientReady.Store(true)
	}
	return err
}

// Ready reports, without blocking, whether the node can serve requests: a
// server that has caught up once since Start and knows a leader now, or a
// client that has reached a server once (through WaitReady) and sees an
// alive server in gossip now.
func (n *Node) Ready() bool {
	if _, err := n.membership(); err != nil {
		return false
	}
	if n.cons != nil {
		return n.cons.Ready()
	}
	if !n.clientReady.Load() {
		return false
	}
	for _, m := range n.Members() {
		if m.Role == membership.RoleServer && m.Status == membership.StatusAlive {
			return true
		}
	}
	return false
}
