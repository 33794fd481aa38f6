package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/internal/errs"
	"github.com/conclave-go/conclave/internal/logadapt"
	"github.com/conclave-go/conclave/membership"
)

// Node is one member of a Conclave cluster: gossip membership, and on a
// server a Raft seat running the host's state machine. Create it with [New],
// start it with [Node.Start], stop it with [Node.Close] or [Node.Leave].
// Its methods are safe for concurrent use.
type Node struct {
	cfg    Config
	server *serverSettings // nil on a client; defaults applied
	logger *slog.Logger

	cons   *consensus.Node   // nil on a client
	client *consensus.Client // nil on a server
	routes *router
	events *eventHub

	bootErr atomic.Pointer[string] // why bootstrap is blocked, if it is
	// startedWithData: the server started on Raft state of its own. Set by
	// Start before membership starts, read-only afterwards.
	startedWithData bool
	clientReady     atomic.Bool     // a client reached a server once
	counts          reconcileCounts // for Stats

	// group is the latest group state, written by the reconciler only;
	// groupReady is closed when the first one is written.
	group      atomic.Pointer[groupState]
	groupReady chan struct{}

	mu      sync.Mutex // guards mem, state, onLead
	mem     *membership.Membership
	state   lifecycle
	onLead  []func(context.Context, uint64)
	ctx     context.Context // cancelled when the node stops
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closeMu sync.Mutex // serialises Close
}

type lifecycle uint8

const (
	stateNew lifecycle = iota
	stateStarted
	stateClosed
)

// New validates cfg and builds a node. It starts nothing: no socket is
// opened until [Node.Start].
func New(cfg Config) (*Node, error) {
	cfg = cfg.clone()
	if cfg.Name == "" {
		cfg.Name, _ = os.Hostname()
	}
	n := &Node{
		cfg:    cfg,
		logger: logadapt.OrDiscard(cfg.Logger).With("node", cfg.Name),
		events: &eventHub{wake: make(chan struct{}, 1)},
	}
	problems := []error{cfg.validate()}
	if cfg.Consensus != nil {
		sc := cfg.Consensus.resolve(cfg.Profile, cfg.Tuning)
		n.server = &sc
		n.groupReady = make(chan struct{})
	}
	// Validate the membership settings now; the real instance is built at
	// Start, once the Raft address is bound and can be advertised.
	if _, err := membership.New(n.membershipConfig("127.0.0.1:1")); err != nil {
		problems = append(problems, errs.Rename(err, membershipField))
	}
	if n.server != nil {
		cons, err := consensus.New(n.consensusConfig())
		problems = append(problems, errs.Rename(err, consensusField))
		n.cons = cons
	} else {
		client, err := consensus.NewClient(consensus.ClientConfig{
			Network: cfg.Network, TLS: cfg.ClientTLS, Logger: n.logger.With("component", "client"),
		})
		problems = append(problems, err)
		n.client = client
	}
	if err := errors.Join(problems...); err != nil {
		n.closeParts()
		return nil, err
	}
	n.routes = newRouter(n)
	n.ctx, n.cancel = context.WithCancel(context.Background())
	return n, nil
}

// clone copies the maps and slices of c.
func (c Config) clone() Config {
	c.Tags = maps.Clone(c.Tags)
	c.Seeds = slices.Clone(c.Seeds)
	keys := make([][]byte, len(c.Keys))
	for i, k := range c.Keys {
		keys[i] = slices.Clone(k)
	}
	c.Keys = keys
	return c
}

// membershipField names a membership.Config field as a Config field.
func membershipField(f string) string {
	if rest, ok := strings.CutPrefix(f, "Tuning."); ok {
		return "Tuning.Membership." + rest
	}
	return f
}

// consensusField names a consensus.Config field as a Config field.
func consensusField(f string) string {
	if rest, ok := strings.CutPrefix(f, "Tuning."); ok {
		return "Tuning.Consensus." + rest
	}
	if f == "Name" || f == "Profile" {
		return f
	}
	return "Consensus." + f
}

func (n *Node) consensusConfig() consensus.Config {
	sc := n.server
	return consensus.Config{
		Name:          n.cfg.Name,
		BindAddr:      sc.BindAddr,
		AdvertiseAddr: sc.AdvertiseAddr,
		DataDir:       sc.DataDir,
		LogStore:      sc.LogStore,
		StartFresh:    sc.StartFresh,
		InMemory:      sc.InMemory,
		StateMachine:  sc.StateMachine,
		Network:       n.cfg.Network,
		TLS:           sc.TLS,
		Profile:       n.cfg.Profile.consensus(),
		Logger:        logadapt.OrDiscard(n.cfg.Logger).With("component", "consensus"), // consensus adds the node
		Tuning:        sc.Tuning.Consensus,
	}
}

func (n *Node) membershipConfig(rpcAddr string) membership.Config {
	c := membership.Config{
		Name:          n.cfg.Name,
		BindAddr:      n.cfg.BindAddr,
		AdvertiseAddr: n.cfg.AdvertiseAddr,
		Seeds:         n.cfg.Seeds,
		WaitForJoin:   n.cfg.WaitForJoin,
		Tags:          n.cfg.Tags,
		Profile:       n.cfg.Profile.membership(),
		Keys:          n.cfg.Keys,
		Label:         n.cfg.Label,
		Network:       n.cfg.Network,
		Logger:        logadapt.OrDiscard(n.cfg.Logger), // membership adds its own component and node
		Tuning:        n.cfg.Tuning.Membership,
		Role:          membership.RoleClient,
	}
	if n.server != nil {
		c.Role = membership.RoleServer
		c.RPCAddr = rpcAddr
		c.SystemTags = n.systemTags(false)
	}
	return c
}

// systemTags are the reserved gossip tags a server advertises.
func (n *Node) systemTags(leaving bool) map[string]string {
	tags := map[string]string{tagExpect: strconv.Itoa(n.server.BootstrapExpect)}
	if n.startedWithData {
		tags[tagHasData] = "1"
	}
	if leaving {
		tags[tagLeaving] = "1"
	}
	return tags
}

// Start binds the node's sockets, starts Raft on a server, joins the seeds
// and starts the background work: bootstrap, reconciliation. ctx bounds the
// start itself (and the wait for a first join with WaitForJoin); the node
// runs until Close or Leave.
func (n *Node) Start(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch n.state {
	case stateStarted:
		return ErrAlreadyStarted
	case stateClosed:
		return ErrClosed
	}
	if err := n.startParts(ctx); err != nil {
		n.closeParts()
		n.events.close()
		n.state = stateClosed
		return err
	}
	n.state = stateStarted
	if n.server != nil {
		n.startServerLoops()
	}
	return nil
}

func (n *Node) startParts(ctx context.Context) error {
	rpcAddr := ""
	var leaders *consensus.LeaderSubscription
	if n.cons != nil {
		for _, fn := range n.onLead {
			n.cons.OnLeader(fn)
		}
		leaders = n.cons.SubscribeLeader(0) // before Start: the first leader
		if err := n.cons.Start(ctx); err != nil {
			return fmt.Errorf("cluster: start consensus: %w", err)
		}
		rpcAddr = n.cons.Addr()
		has, err := n.cons.HasState()
		n.startedWithData = err == nil && has
	}
	mem, err := membership.New(n.membershipConfig(rpcAddr))
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	n.mem = mem
	n.events.follow(mem.Subscribe(0), leaders) // before Start: the first joins
	if err := mem.Start(ctx); err != nil {
		return fmt.Errorf("cluster: start membership: %w", err)
	}
	return nil
}

func (n *Node) startServerLoops() {
	rec := newReconciler(n)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		rec.run(n.ctx, n.events.wake)
	}()
}

// Close stops the node without leaving: a server keeps its Raft seat, and a
// restart with the same data dir returns as the same server. A voter first
// gives a server that is back and catching up up to a second to become a
// healthy voter again, so that the failure tolerance does not dip twice; a
// leader then hands leadership to an up-to-date voter (see
// [consensus.Node.Close]). Close is idempotent and returns once
// every goroutine the node started has exited.
func (n *Node) Close() error {
	n.closeMu.Lock()
	defer n.closeMu.Unlock()
	n.mu.Lock()
	state := n.state
	n.mu.Unlock()
	if state == stateClosed {
		return nil
	}
	if state == stateStarted && n.cons != nil && n.ctx.Err() == nil {
		n.awaitHeirOnClose() // while the reconciler still runs (not after Leave)
	}
	n.mu.Lock()
	n.state = stateClosed
	n.mu.Unlock()
	n.stopLoops()
	err := n.closeParts()
	n.events.close()
	return err
}

// stopLoops stops the node's own goroutines and waits for them.
func (n *Node) stopLoops() {
	n.cancel()
	n.wg.Wait()
}

func (n *Node) closeParts() error {
	var errs []error
	if n.cons != nil {
		errs = append(errs, n.cons.Close())
	}
	if n.client != nil {
		errs = append(errs, n.client.Close())
	}
	if n.mem != nil {
		errs = append(errs, n.mem.Close())
	}
	return errors.Join(errs...)
}

// Leave departs gracefully. A voter first hands its seat to a caught-up
// non-voter when there is one and the seats would otherwise fall below
// MaxVoters, waiting (within ctx) until that promotion is committed; a
// non-voter that is back on its own data and still catching up is waited
// for, at most ServerStabilizationTime. A server that leads then hands
// leadership over, and asks to be removed from the Raft configuration. Then
// the node leaves gossip, so peers record a departure rather than a failure,
// and closes.
func (n *Node) Leave(ctx context.Context) error {
	mem, err := n.membership()
	if err != nil {
		return err
	}
	var errs []error
	if n.cons != nil {
		n.handOverSeat(ctx)
		// Stop reconciling, so this server does not re-add itself, and
		// tell the others it is leaving, so their leader does not either.
		n.stopLoops()
		errs = append(errs, mem.SetSystemTags(n.systemTags(true)))
		errs = append(errs, n.cons.Leave(ctx))
	}
	errs = append(errs, mem.Leave(ctx), n.Close())
	return errors.Join(errs...)
}

// membership returns the started membership, or the lifecycle error.
func (n *Node) membership() (*membership.Membership, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.state != stateStarted {
		if n.state == stateClosed {
			return nil, ErrClosed
		}
		return nil, ErrNotStarted
	}
	return n.mem, nil
}

// Name returns the node's name.
func (n *Node) Name() string { return n.cfg.Name }

// IsServer reports whether the node runs a Raft seat and the state machine.
func (n *Node) IsServer() bool { return n.server != nil }

// Members returns every member gossip knows of, this node included. Nil
// before Start.
func (n *Node) Members() []membership.Member {
	m, err := n.membership()
	if err != nil {
		return nil
	}
	return m.Members()
}

// Local returns this node as gossip advertises it.
func (n *Node) Local() membership.Member {
	m, err := n.membership()
	if err != nil {
		return membership.Member{Name: n.cfg.Name}
	}
	return m.Local()
}

// SetTags replaces the application's tags; every node sees an update event.
func (n *Node) SetTags(tags map[string]string) error {
	m, err := n.membership()
	if err != nil {
		return err
	}
	return m.SetTags(tags)
}

// RaftAddr returns the bound Raft and RPC address of a server, "" on a
// client.
func (n *Node) RaftAddr() string {
	if n.cons == nil {
		return ""
	}
	return n.cons.Addr()
}

// Membership returns the node's membership layer, for what this package does
// not wrap (keyring rotation, for one). Nil before Start.
func (n *Node) Membership() *membership.Membership {
	m, _ := n.membership()
	return m
}

// Consensus returns the server's consensus node, for what this package does
// not wrap. Nil on a client.
func (n *Node) Consensus() *consensus.Node { return n.cons }
