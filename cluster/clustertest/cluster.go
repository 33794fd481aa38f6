package clustertest

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/conclave-go/conclave/cluster"
	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/internal/faultnet"
)

// Cluster is a set of Conclave nodes running in this process on loopback,
// each with its own data dir and its own host on a shared fault-injecting
// network. Build it with [New] in a test or [Start] in a program.
//
// Nodes are addressed by index, 0 to Len()-1; node i is named Name(i). The
// methods are safe for concurrent use, except that lifecycle calls on one
// node (Kill, Restart, Stop) must not race each other. In a cluster built by
// New, a method that fails calls t.Fatal, so it must run on the test's
// goroutine; its error result is then always nil.
type Cluster struct {
	set     settings
	tb      testing.TB // nil for a cluster built by Start
	rep     reporter   // tb, or a no-op for Start
	net     *faultnet.Network
	rootDir string // removed by Close; only for Start
	begin   time.Time
	servers int
	leaders *leaderMonitor

	mu     sync.Mutex // guards the slots' node, net, sm, running and addresses; closed; faults
	slots  []*slot
	closed bool
	faults []Fault

	rng *mathrand.Rand // not safe for concurrent use; see Rand

	stop chan struct{}
	wg   sync.WaitGroup
}

// slot is one node of the cluster across its restarts.
type slot struct {
	index  int
	name   string
	server bool
	dir    string
	host   *faultnet.Host

	op sync.Mutex // serialises Kill, Restart and Stop of this node

	node       *cluster.Node          // the latest instance, closed when the node is down
	net        *nodeNet               // the latest instance's network
	sm         consensus.StateMachine // its state machine; nil on a client
	running    bool
	gossipAddr string // last bound addresses, reused by Restart
	raftAddr   string
}

// Fault is one fault injected by the harness, as logged.
type Fault struct {
	// Time is when the fault was injected.
	Time time.Time
	// What describes it, e.g. "kill node-1" or "partition [node-0] [node-1 node-2]".
	What string
}

// New starts n nodes and waits until they see each other and, when there
// are servers, agree on a leader. It registers Close with t.Cleanup and
// fails the test if anything goes wrong. The seed is logged with t.Logf.
func New(t testing.TB, n int, opts ...Option) *Cluster {
	t.Helper()
	c, err := build(t, n, opts)
	if err != nil {
		t.Fatalf("clustertest: %v", err)
	}
	return c
}

// Start is [New] for programs without a testing.T: it returns an error
// instead of failing a test, logs only through [WithLogger], keeps the data
// dirs under one temporary directory and removes it on Close. The caller
// must call Close. Wait methods return errors; [Cluster.WaitLeader] returns
// -1 on failure.
func Start(n int, opts ...Option) (*Cluster, error) {
	return build(nil, n, opts)
}

func build(tb testing.TB, n int, opts []Option) (*Cluster, error) {
	set := defaultSettings()
	for _, o := range opts {
		o(&set)
	}
	if err := set.validate(n); err != nil {
		return nil, err
	}
	c := &Cluster{set: set, tb: tb, rep: nopReporter{}, begin: time.Now(), stop: make(chan struct{})}
	if tb != nil {
		c.rep = tb
	}
	c.rep.Helper()
	c.servers = set.servers
	if c.servers < 0 {
		c.servers = n
	}
	seed, source := c.pickSeed()
	c.set.seed = seed
	c.rng = mathrand.New(mathrand.NewPCG(uint64(seed), 0x636c7573))
	if err := c.makeSlots(n); err != nil {
		return nil, err
	}
	c.net = faultnet.New(seed, set.logger)
	c.leaders = newLeaderMonitor()
	if tb != nil {
		tb.Cleanup(func() { c.cleanup() })
	}
	c.logf("seed %d (%s; rerun with WithSeed(%d) or CONCLAVE_SEED=%d)", seed, source, seed, seed)
	if err := c.startAll(); err != nil {
		if tb == nil {
			_ = c.Close()
		}
		return nil, err
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.leaders.sample(c, c.stop)
	}()
	return c, nil
}

func (s settings) validate(n int) error {
	switch {
	case n < 1:
		return fmt.Errorf("clustertest: %d nodes: need at least 1", n)
	case s.servers > n:
		return fmt.Errorf("clustertest: WithServers(%d) with %d nodes: allowed 0 to %d", s.servers, n, n)
	case s.servers < -1:
		return fmt.Errorf("clustertest: WithServers(%d): must not be negative", s.servers)
	case s.newSM == nil:
		return errors.New("clustertest: WithStateMachine(nil)")
	case s.timeout <= 0:
		return fmt.Errorf("clustertest: WithTimeout(%v): must be positive", s.timeout)
	}
	return nil
}

// pickSeed returns the seed and where it came from.
func (c *Cluster) pickSeed() (int64, string) {
	if c.set.seedSet {
		return c.set.seed, "WithSeed"
	}
	if env := os.Getenv("CONCLAVE_SEED"); env != "" {
		if s, err := strconv.ParseInt(env, 10, 64); err == nil {
			return s, "CONCLAVE_SEED"
		}
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return int64(binary.LittleEndian.Uint64(b[:]) >> 1), "random"
}

// makeSlots names the nodes and creates their data dirs.
func (c *Cluster) makeSlots(n int) error {
	if c.tb == nil {
		root, err := os.MkdirTemp("", "clustertest-")
		if err != nil {
			return fmt.Errorf("clustertest: %w", err)
		}
		c.rootDir = root
	}
	for i := range n {
		s := &slot{index: i, name: fmt.Sprintf("node-%d", i), server: i < c.servers}
		if s.server && !c.set.inMemory {
			if c.tb != nil {
				s.dir = c.tb.TempDir()
			} else {
				s.dir = filepath.Join(c.rootDir, s.name)
			}
		}
		c.slots = append(c.slots, s)
	}
	return nil
}

// startAll starts every node, each seeded with the ones before it, and
// waits until the cluster is formed.
func (c *Cluster) startAll() error {
	c.rep.Helper()
	for _, s := range c.slots {
		s.host = c.net.Host(s.name)
		if err := c.startSlot(s, false); err != nil {
			return err
		}
	}
	for i := range c.slots {
		if err := c.waitMembers(i, len(c.slots)); err != nil {
			return err
		}
	}
	if c.servers > 0 {
		if _, err := c.waitLeader(nil); err != nil {
			return err
		}
	}
	c.logf("%d nodes up (%d servers) in %v", len(c.slots), c.servers, time.Since(c.begin).Round(time.Millisecond))
	return nil
}

// startSlot starts a new instance of s. With reuse it binds the addresses
// of the previous instance, falling back to fresh ports if that fails.
func (c *Cluster) startSlot(s *slot, reuse bool) error {
	c.rep.Helper()
	nn := &nodeNet{host: s.host}
	node, sm, err := c.startNode(s, nn, reuse)
	if err != nil && reuse {
		c.logf("%s: could not restart on its old addresses (%v); using new ones", s.name, err)
		node, sm, err = c.startNode(s, nn, false)
	}
	if err != nil {
		return fmt.Errorf("clustertest: start %s: %w", s.name, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s.node, s.net, s.sm, s.running = node, nn, sm, true
	s.gossipAddr = node.Local().Address()
	s.raftAddr = node.RaftAddr()
	return nil
}

func (c *Cluster) startNode(s *slot, nn *nodeNet, reuse bool) (*cluster.Node, consensus.StateMachine, error) {
	var sm consensus.StateMachine
	if s.server {
		sm = c.set.newSM()
	}
	cfg := c.nodeConfig(s, nn, sm, reuse)
	node, err := cluster.New(cfg)
	if err != nil {
		return nil, nil, err
	}
	name := s.name
	node.OnLeader(func(_ context.Context, term uint64) { c.leaders.observe(term, name, "OnLeader") })
	ctx, cancel := context.WithTimeout(context.Background(), c.set.timeout)
	defer cancel()
	if err := node.Start(ctx); err != nil {
		return nil, nil, err
	}
	return node, sm, nil
}

// nodeConfig builds the configuration of one start of s.
func (c *Cluster) nodeConfig(s *slot, nn *nodeNet, sm consensus.StateMachine, reuse bool) cluster.Config {
	c.mu.Lock()
	gossip, raft := "127.0.0.1:0", "127.0.0.1:0"
	if reuse && s.gossipAddr != "" {
		gossip, raft = s.gossipAddr, s.raftAddr
	}
	var seeds []string
	for _, o := range c.slots {
		if o != s && o.gossipAddr != "" {
			seeds = append(seeds, o.gossipAddr)
		}
	}
	c.mu.Unlock()
	cfg := cluster.Config{
		Name:     s.name,
		BindAddr: gossip,
		Seeds:    seeds,
		Profile:  c.set.profile,
		Logger:   c.set.logger,
		Network:  nn,
	}
	if s.server {
		cfg.Consensus = &cluster.ConsensusConfig{
			BindAddr:        raft,
			DataDir:         s.dir,
			InMemory:        c.set.inMemory,
			StateMachine:    sm,
			BootstrapExpect: c.servers,
		}
	}
	for _, fn := range c.set.configure {
		fn(s.index, &cfg)
	}
	return cfg
}
