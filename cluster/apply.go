package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/membership"
)

// Apply replicates cmd through the Raft group and returns the state
// machine's result. A server applies it through its leader (forwarding when
// it is a follower); a client sends it to the leader when it knows which
// server leads (batched with the node's other writes), else to an alive
// server it knows from gossip, trying another when one cannot be reached. Errors are those of
// [consensus.Node.Apply]: the state machine's own error comes back as a
// [*consensus.StateMachineError], and [consensus.ErrOutcomeUnknown] means the
// command may or may not have been applied.
func (n *Node) Apply(ctx context.Context, cmd []byte) ([]byte, error) {
	if _, err := n.membership(); err != nil {
		return nil, err
	}
	if n.cons != nil {
		return n.cons.Apply(ctx, cmd)
	}
	var res []byte
	err := n.routes.write(ctx, func(addr string) error {
		var err error
		res, err = n.client.Apply(ctx, addr, cmd)
		return err
	})
	return res, err
}

// Query answers q at the given consistency through the state machine's
// [consensus.Querier]. It works on servers and on clients alike.
func (n *Node) Query(ctx context.Context, level consensus.ReadLevel, q []byte) ([]byte, error) {
	if _, err := n.membership(); err != nil {
		return nil, err
	}
	if n.cons != nil {
		return n.cons.Query(ctx, level, q)
	}
	var res []byte
	err := n.routes.do(ctx, func(addr string) error {
		var err error
		res, err = n.client.Query(ctx, addr, level, q)
		return err
	})
	return res, err
}

// Read runs fn against the local state machine once it is as fresh as level
// asks (see [consensus.ReadLevel]). Only servers hold a state machine: on a
// client Read returns [ErrNotServer]; use [Node.Query] there.
func (n *Node) Read(ctx context.Context, level consensus.ReadLevel, fn func(consensus.StateMachine) error) error {
	if _, err := n.membership(); err != nil {
		return err
	}
	if n.cons == nil {
		return ErrNotServer
	}
	return n.cons.Read(ctx, level, fn)
}

// router picks the server a client node sends a request to.
type router struct {
	n         *Node
	mu        sync.Mutex // guards preferred
	preferred string     // the last server that answered
}

func newRouter(n *Node) *router { return &router{n: n} }

// servers lists the alive servers' RPC addresses, the preferred one first,
// or with toLeader the leader the client knows of first (writes then take
// one hop, in batches).
func (r *router) servers(toLeader bool) []string {
	var addrs []string
	for _, m := range r.n.Members() {
		if m.Role == membership.RoleServer && m.Status == membership.StatusAlive && m.RPCAddr != "" {
			addrs = append(addrs, m.RPCAddr)
		}
	}
	rand.Shuffle(len(addrs), func(i, j int) { addrs[i], addrs[j] = addrs[j], addrs[i] })
	first := ""
	if toLeader {
		first = r.n.client.LeaderAddr()
	}
	if !slices.Contains(addrs, first) {
		r.mu.Lock()
		first = r.preferred
		r.mu.Unlock()
	}
	for i, a := range addrs {
		if a == first {
			addrs[0], addrs[i] = addrs[i], addrs[0]
		}
	}
	return addrs
}

func (r *router) prefer(addr string) {
	r.mu.Lock()
	r.preferred = addr
	r.mu.Unlock()
}

// write is do for a write: the leader the client knows of is tried first,
// without listing the members (a list of every member per write would cost
// more than the write on a large cluster; the client forgets a leader that
// fails), then the servers with that leader first. A write the known leader
// answers leaves the preferred server, which reads go to first, as it is.
func (r *router) write(ctx context.Context, fn func(addr string) error) error {
	var last error
	if lead := r.n.client.LeaderAddr(); lead != "" {
		err := fn(lead)
		if !errors.Is(err, consensus.ErrUnavailable) {
			return err
		}
		last = err
	}
	return r.try(ctx, true, last, fn)
}

// do calls fn with server addresses, the preferred one first, until one
// does not report [consensus.ErrUnavailable] (the request certainly did not
// run there), or ctx ends.
func (r *router) do(ctx context.Context, fn func(addr string) error) error {
	return r.try(ctx, false, nil, fn)
}

// try is do, with the known leader first when toLeader, and last the
// failure before it (nil if none).
func (r *router) try(ctx context.Context, toLeader bool, last error, fn func(addr string) error) error {
	backoff := 20 * time.Millisecond
	for {
		for _, addr := range r.servers(toLeader) {
			err := fn(addr)
			if err == nil {
				r.prefer(addr)
				return nil
			}
			if !errors.Is(err, consensus.ErrUnavailable) {
				return err
			}
			last = err
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			if last != nil {
				return fmt.Errorf("%w: %w", ErrNoServers, last)
			}
			return fmt.Errorf("%w: %w", ErrNoServers, ctx.Err())
		case <-r.n.ctx.Done():
			t.Stop()
			return ErrClosed
		case <-t.C:
		}
		backoff = min(2*backoff, time.Second)
	}
}
