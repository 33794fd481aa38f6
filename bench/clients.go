package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/conclave-go/conclave/cluster"
	"github.com/conclave-go/conclave/consensus"
)

// ClientsEnv is a Conclave cluster of three servers and many client nodes,
// each with its own gossip and its own connections, in this process.
type ClientsEnv struct {
	Con  *Conclave
	Lite *LiteClients // nil: the client nodes are cluster nodes
}

// clientStarts is how many client nodes start at once.
const clientStarts = 10

// StartClientsEnv starts three servers (bolt on disk, LAN profile), then
// clients client nodes, clientStarts at a time, and waits until each has
// applied a command. With lite, the clients are [LiteClients] instead.
func StartClientsEnv(ctx context.Context, dir string, clients int, lite bool) (*ClientsEnv, error) {
	con, err := StartConclave(ctx, ConclaveOptions{Dir: dir, Profile: cluster.ProfileLAN})
	if err != nil {
		return nil, err
	}
	e := &ClientsEnv{Con: con}
	if lite {
		if e.Lite, err = NewLiteClients(con, clients); err != nil {
			_ = e.Close()
			return nil, err
		}
		return e, nil
	}
	for first := 0; first < clients; first += clientStarts {
		if err := e.addClients(ctx, min(clientStarts, clients-first)); err != nil {
			_ = e.Close()
			return nil, err
		}
	}
	return e, nil
}

// addClients starts n client nodes at once and waits until each has
// applied a command.
func (e *ClientsEnv) addClients(ctx context.Context, n int) error {
	c := e.Con
	base := len(c.Nodes)
	nodes := make([]*cluster.Node, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for k := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nd, err := c.startNode(ctx, base+k)
			if err == nil {
				err = poll(ctx, func() bool {
					actx, cancel := context.WithTimeout(ctx, 2*time.Second)
					defer cancel()
					_, err := nd.Apply(actx, Command(uint64(base+k), 8))
					return err == nil
				})
			}
			nodes[k], errs[k] = nd, err
		}()
	}
	wg.Wait()
	for _, nd := range nodes {
		if nd != nil {
			c.Nodes = append(c.Nodes, nd)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("bench: starting client nodes %d to %d: %w", base, base+n-1, err)
	}
	return nil
}

// Close stops every node and client.
func (e *ClientsEnv) Close() error {
	var err error
	if e.Lite != nil {
		err = e.Lite.Close()
	}
	return errors.Join(err, e.Con.Close())
}

// IdleCPU returns the share of one core the process used over d with no
// load: the cost of the nodes' gossip and Raft heartbeats.
func (e *ClientsEnv) IdleCPU(d time.Duration) float64 {
	c0, t0 := selfCPU(), time.Now()
	time.Sleep(d)
	return float64(selfCPU()-c0) / float64(time.Since(t0))
}

// ClientTargets returns the writes compared: the same callers spread over
// the servers (the leader applies its share, the followers forward theirs),
// all on the leader, and spread over the client nodes (worker w writes
// through client node w mod the number of clients).
func (e *ClientsEnv) ClientTargets(size int) ([]Target, error) {
	c := e.Con
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := poll(ctx, func() bool { return c.Leader() >= 0 }); err != nil {
		return nil, errNoLeader
	}
	apply := func(pick func(w int) int) Op {
		return func(ctx context.Context, w, seq int) error {
			_, err := c.Nodes[pick(w)].Apply(ctx, Command(opKey(w, seq), size))
			return err
		}
	}
	leader := c.Leader()
	clients := len(c.Nodes) - c.Servers
	ts := []Target{
		{Name: "servers", Op: apply(func(w int) int { return w % c.Servers })},
		{Name: "leader", Op: apply(func(int) int { return leader })},
		{Name: "client nodes", Op: apply(func(w int) int { return c.Servers + w%max(clients, 1) })},
	}
	if e.Lite != nil {
		n := len(e.Lite.clients)
		ts[2] = Target{Name: "clients without gossip", Op: func(ctx context.Context, w, seq int) error {
			_, err := e.Lite.Apply(ctx, w%n, Command(opKey(w, seq), size))
			return err
		}}
	}
	return ts, nil
}

// ClientWrites measures the targets at each caller count (callers in
// total, spread over the nodes) and size; rows compare with the servers.
func (e *ClientsEnv) ClientWrites(ctx context.Context, callers, sizes []int, rounds int, slice time.Duration) ([]Row, error) {
	return writeSweep(ctx, "clients", callers, sizes, rounds, slice, e.ClientTargets)
}

// LiteClients are client processes without gossip: each a
// [consensus.Client] that knows the servers' addresses and routes as a
// client node does (the leader it knows first, then the server that last
// answered, then the others). They put the load of many client nodes on the
// servers without the CPU of as many gossip members in this process.
type LiteClients struct {
	servers []string
	clients []*liteClient
}

type liteClient struct {
	cl        *consensus.Client
	preferred atomic.Int32 // index of the server that last answered
}

// NewLiteClients makes n clients of the servers of c.
func NewLiteClients(c *Conclave, n int) (*LiteClients, error) {
	lc := &LiteClients{}
	for i := range c.Servers {
		lc.servers = append(lc.servers, c.Nodes[i].RaftAddr())
	}
	for i := range n {
		cl, err := consensus.NewClient(consensus.ClientConfig{})
		if err != nil {
			_ = lc.Close()
			return nil, err
		}
		l := &liteClient{cl: cl}
		l.preferred.Store(int32(i % len(lc.servers)))
		lc.clients = append(lc.clients, l)
	}
	return lc, nil
}

// Close closes every client.
func (lc *LiteClients) Close() error {
	var errs []error
	for _, l := range lc.clients {
		errs = append(errs, l.cl.Close())
	}
	return errors.Join(errs...)
}

// Apply applies cmd through client i.
func (lc *LiteClients) Apply(ctx context.Context, i int, cmd []byte) ([]byte, error) {
	l := lc.clients[i]
	var order []string
	if h, ok := any(l.cl).(interface{ LeaderAddr() string }); ok && h.LeaderAddr() != "" {
		order = append(order, h.LeaderAddr())
	}
	p := int(l.preferred.Load())
	order = append(order, lc.servers[p:]...)
	order = append(order, lc.servers[:p]...)
	for ctx.Err() == nil {
		for _, addr := range order {
			res, err := l.cl.Apply(ctx, addr, cmd)
			if !errors.Is(err, consensus.ErrUnavailable) {
				if err == nil {
					l.preferred.Store(int32(slices.Index(lc.servers, addr)))
				}
				return res, err
			}
		}
	}
	return nil, ctx.Err()
}
