package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"

	"github.com/conclave-go/conclave/cluster"
	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/internal/netx"
)

// ConclaveOptions configure a group of Conclave nodes in this process.
type ConclaveOptions struct {
	// Dir holds one data directory per server. Required unless InMemory.
	Dir string
	// Servers is the number of servers (each with a Raft seat); zero means 3.
	Servers int
	// Clients is the number of client nodes (membership only).
	Clients int
	// Profile is the timing profile of gossip and Raft.
	Profile cluster.Profile
	// Raft, when set, replaces the profile's Raft timings (the consensus
	// package's escape hatch).
	Raft *raft.Config
	// Network returns the network of node i (servers first, then clients);
	// nil means the operating system's.
	Network func(i int) netx.Network
	// Logger receives the nodes' logs; nil discards them.
	Logger *slog.Logger
}

// Conclave is a Conclave cluster on loopback: servers that found each other
// through gossip and bootstrapped together, and client nodes.
type Conclave struct {
	Nodes   []*cluster.Node // servers first, then clients
	Servers int
	opts    ConclaveOptions
	seed    string
	addrs   []nodeAddrs // bound addresses, reused by Restart
}

type nodeAddrs struct{ gossip, raft string }

// StartConclave starts the nodes and waits until every server has applied a
// command through the leader and every client sees every server.
func StartConclave(ctx context.Context, o ConclaveOptions) (*Conclave, error) {
	if o.Servers == 0 {
		o.Servers = 3
	}
	c := &Conclave{Servers: o.Servers, opts: o}
	for i := range o.Servers + o.Clients {
		n, err := c.startNode(ctx, i)
		if err != nil {
			_ = c.Close()
			return nil, err
		}
		c.Nodes = append(c.Nodes, n)
		c.addrs = append(c.addrs, nodeAddrs{n.Local().Address(), n.RaftAddr()})
		if i == 0 {
			c.seed = n.Local().Address()
		}
	}
	if err := c.WaitReady(ctx); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Conclave) startNode(ctx context.Context, i int) (*cluster.Node, error) {
	o := c.opts
	gossipAddr, raftAddr := "127.0.0.1:0", "127.0.0.1:0"
	if i < len(c.addrs) {
		gossipAddr, raftAddr = c.addrs[i].gossip, c.addrs[i].raft
	}
	cfg := cluster.Config{
		Name:     nodeName(i),
		BindAddr: gossipAddr,
		Profile:  o.Profile,
		Logger:   o.Logger,
	}
	if c.seed != "" {
		cfg.Seeds = []string{c.seed}
	}
	if o.Network != nil {
		cfg.Network = o.Network(i)
	}
	if i < c.Servers {
		cc := &cluster.ConsensusConfig{
			BindAddr:        raftAddr,
			DataDir:         filepath.Join(o.Dir, nodeName(i)),
			StateMachine:    smFSM{newKV()},
			BootstrapExpect: o.Servers,
		}
		if o.Dir == "" {
			cc.DataDir, cc.InMemory = "", true
		}
		cfg.Tuning.Consensus.Raft = o.Raft
		cfg.Consensus = cc
	}
	n, err := cluster.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := n.Start(ctx); err != nil {
		return nil, err
	}
	return n, nil
}

func nodeName(i int) string { return fmt.Sprintf("node-%d", i) }

// WaitReady waits until a leader is known, a command applied through it
// and a linearizable read works on every node.
func (c *Conclave) WaitReady(ctx context.Context) error {
	if err := poll(ctx, func() bool { return c.Leader() >= 0 }); err != nil {
		return fmt.Errorf("bench: conclave has no leader: %w", err)
	}
	for i, n := range c.Nodes {
		if n == nil {
			continue
		}
		err := poll(ctx, func() bool {
			actx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			if _, err := n.Apply(actx, Command(uint64(i), 8)); err != nil {
				return false
			}
			_, err := n.Query(actx, consensus.Linearizable, Query(0))
			return err == nil
		})
		if err != nil {
			return fmt.Errorf("bench: %s not ready: %w", n.Name(), err)
		}
	}
	return nil
}

// Leader returns the index of the server that leads, or -1.
func (c *Conclave) Leader() int {
	for i := range c.Servers {
		n := c.Nodes[i]
		if n == nil {
			continue
		}
		if l := n.Leader(); l.Name != "" && l.Name == n.Name() {
			return i
		}
	}
	return -1
}

// Follower returns the index of a running server that does not lead.
func (c *Conclave) Follower() int {
	l := c.Leader()
	for i := range c.Servers {
		if i != l && c.Nodes[i] != nil {
			return i
		}
	}
	return -1
}

// Client returns the index of the first client node, or -1.
func (c *Conclave) Client() int {
	if len(c.Nodes) > c.Servers {
		return c.Servers
	}
	return -1
}

// Kill closes node i without leaving.
func (c *Conclave) Kill(i int) error {
	n := c.Nodes[i]
	c.Nodes[i] = nil
	return n.Close()
}

// Restart starts node i again after Kill, with its data dir and addresses,
// seeded with a running node, and waits until the cluster is ready with
// every server a healthy voter.
func (c *Conclave) Restart(ctx context.Context, i int) error {
	for j, n := range c.Nodes {
		if n != nil && j != i {
			c.seed = n.Local().Address()
			break
		}
	}
	n, err := c.startNode(ctx, i)
	if err != nil {
		return err
	}
	c.Nodes[i] = n
	if err := c.WaitReady(ctx); err != nil {
		return err
	}
	return c.WaitVoters(ctx, c.Servers)
}

// AddServer starts one more server (it joins the existing group: the
// leader adds it) and waits until every server is a healthy voter.
func (c *Conclave) AddServer(ctx context.Context) error {
	if len(c.Nodes) > c.Servers {
		return errors.New("bench: AddServer with client nodes")
	}
	for _, n := range c.Nodes {
		if n != nil {
			c.seed = n.Local().Address()
			break
		}
	}
	i := len(c.Nodes)
	c.Servers++
	n, err := c.startNode(ctx, i)
	if err != nil {
		c.Servers--
		return err
	}
	c.Nodes = append(c.Nodes, n)
	c.addrs = append(c.addrs, nodeAddrs{n.Local().Address(), n.RaftAddr()})
	live := 0
	for _, n := range c.Nodes {
		if n != nil {
			live++
		}
	}
	if err := c.WaitReady(ctx); err != nil {
		return err
	}
	return c.WaitVoters(ctx, live)
}

// WaitVoters waits until the leader reports want healthy voters.
func (c *Conclave) WaitVoters(ctx context.Context, want int) error {
	err := poll(ctx, func() bool {
		l := c.Leader()
		if l < 0 {
			return false
		}
		hctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		h, err := c.Nodes[l].Health(hctx)
		return err == nil && h.Voters == want && h.HealthyVoters == want
	})
	if err != nil {
		return fmt.Errorf("bench: waiting for %d healthy voters: %w", want, err)
	}
	return nil
}

// Close closes every node.
func (c *Conclave) Close() error {
	var errs []error
	for i := len(c.Nodes) - 1; i >= 0; i-- {
		if n := c.Nodes[i]; n != nil {
			errs = append(errs, n.Close())
		}
	}
	c.Nodes = nil
	return errors.Join(errs...)
}

// poll calls cond every few milliseconds until it holds or ctx ends.
func poll(ctx context.Context, cond func() bool) error {
	for {
		if cond() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}
