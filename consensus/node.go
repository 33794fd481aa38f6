package consensus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/conclave-go/conclave/internal/logadapt"
	"github.com/conclave-go/conclave/internal/netx"
	"github.com/conclave-go/conclave/internal/rpc"
)

// Node is one server of a Raft group: it runs the host's state machine,
// listens on one port for Raft and Conclave's RPC, and serves writes and
// reads from any server. Create it with [New], then [Node.Start]; stop it
// with [Node.Close] or leave the group with [Node.Leave]. Its methods are
// safe for concurrent use.
type Node struct {
	cfg     Config
	logger  *slog.Logger
	fsm     *fsm
	querier Querier // nil when the state machine does not implement Querier
	lead    *leadership
	met     *nodeMetrics
	reads   *readIndexer

	baseCtx    context.Context // parent of leader sessions; cancelled by Close
	cancelBase context.CancelFunc
	closing    chan struct{} // closed when Close begins
	ready      *readiness    // caught up once since Start
	raftDown   chan struct{} // closed once raft has shut down

	lifeMu  sync.Mutex // guards started, closed and additions to wg/inflight
	started bool
	closed  bool

	wg       sync.WaitGroup // every goroutine the node runs
	inflight sync.WaitGroup // goroutines waiting on raft futures

	// Set by Start, read-only afterwards.
	addr   string
	raft   *raft.Raft
	store  *storage
	trans  *raft.NetworkTransport
	stream *streamLayer
	mux    *rpc.Mux
	server *rpc.Server
	remote *remote
	fwd    *forwarder
	// batchApplyCh reports that raft buffers its apply channel.
	batchApplyCh bool
	observer     *raft.Observer
	obsCh        chan raft.Observation

	removed    removedPeers // servers this node, as leader, removed; for the raft logger
	rejections rejectionLog // refused replication, as leader; from the raft logger

	restoreLn net.Listener // snapshot streams followers forward to the leader; set by Start

	closeOnce sync.Once
	closeErr  error
}

// New validates cfg and returns a node that has started nothing.
func New(cfg Config) (*Node, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.Logger = logadapt.OrDiscard(cfg.Logger).With("node", cfg.Name)
	cfg.Network = netx.OrReal(cfg.Network)
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{
		cfg:        cfg,
		logger:     cfg.Logger,
		fsm:        newFSM(cfg.StateMachine, cfg.Logger),
		baseCtx:    ctx,
		cancelBase: cancel,
		closing:    make(chan struct{}),
		raftDown:   make(chan struct{}),
		ready:      newReadiness(),
	}
	n.querier, _ = cfg.StateMachine.(Querier)
	n.lead = newLeadership(n)
	n.met = newNodeMetrics()
	n.reads = newReadIndexer(n.confirmLeadership)
	return n, nil
}

// Name returns the server's Name.
func (n *Node) Name() string { return n.cfg.Name }

// Addr returns the address other servers reach this one at (the advertised
// address, with the bound port), or "" before Start.
func (n *Node) Addr() string {
	if n.raftOrNil() == nil {
		return ""
	}
	return n.addr
}

// Start binds the port, opens storage and starts Raft. A node with existing
// state rejoins its group; a fresh one waits for [Node.Bootstrap] or for a
// leader to add it. ctx bounds the start-up.
func (n *Node) Start(ctx context.Context) error {
	n.lifeMu.Lock()
	defer n.lifeMu.Unlock()
	switch {
	case n.closed:
		return ErrClosed
	case n.started:
		return ErrAlreadyStarted
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var undo []func()
	fail := func(err error) error {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
		n.wg.Wait()
		return err
	}
	if err := n.startNetwork(&undo); err != nil {
		return fail(err)
	}
	if err := n.startRaft(&undo); err != nil {
		return fail(err)
	}
	n.startServices()
	n.started = true
	n.logger.Info("consensus node started", "addr", n.addr, "config", n.cfg.String())
	n.warnPlaintext()
	return nil
}

// warnPlaintext says, at start, what running without TLS means: a WARN when
// the port is reachable from other hosts, INFO on a loopback address.
func (n *Node) warnPlaintext() {
	if n.cfg.TLS.enabled() {
		return
	}
	level := slog.LevelWarn
	if ap, err := netip.ParseAddrPort(n.mux.Addr().String()); err == nil && ap.Addr().IsLoopback() {
		level = slog.LevelInfo
	}
	n.logger.Log(context.Background(), level, "consensus: TLS is off: any process that reaches "+n.addr+
		" can join the Raft group, submit writes and remove servers; set Config.TLS (mutual TLS) unless the network is trusted")
}

// startNetwork binds the listener and builds the multiplexer, the raft
// transport, the RPC server and client. Nothing serves yet.
func (n *Node) startNetwork(undo *[]func()) error {
	ln, err := n.cfg.Network.Listen("tcp", n.cfg.BindAddr)
	if err != nil {
		return fmt.Errorf("consensus: listen on %s: %w", n.cfg.BindAddr, err)
	}
	*undo = append(*undo, func() { _ = ln.Close() })
	addr, err := advertise(n.cfg.AdvertiseAddr, ln.Addr())
	if err != nil {
		return err
	}
	n.addr = addr
	n.mux, err = rpc.NewMux(ln, rpc.MuxConfig{
		TLS:         n.cfg.TLS.Server,
		Logger:      n.logger,
		IdleTimeout: n.cfg.Tuning.ConnIdleTimeout,
		MaxConns:    n.cfg.Tuning.MaxConns,

		MaxConnsPerIP: n.cfg.Tuning.MaxConnsPerIP,
	})
	if err != nil {
		return fmt.Errorf("consensus: %w", err)
	}
	*undo = append(*undo, func() { _ = n.mux.Close() })
	raftLn, rpcLn := n.mux.Listen(byteRaft), n.mux.Listen(byteRPC)
	n.restoreLn = n.mux.Listen(byteRestore)
	network, clientTLS := n.cfg.Network, n.cfg.TLS.Client
	dialRaft := func(ctx context.Context, addr string) (net.Conn, error) {
		return rpc.DialByte(ctx, network.Dial, addr, byteRaft, clientTLS)
	}
	stream := newStreamLayer(raftLn, advertisedAddr(addr), dialRaft)
	n.stream = stream
	n.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  stream,
		MaxPool: 3,
		Timeout: 10 * time.Second,
		Logger:  logadapt.Hclog(n.logger, raftDemotions(n.removed.has, n.rejections.note)).Named("raft-net"),
		// No pipelined replication: in raft v1.7.3 a follower's rejected
		// append (after a leader change or a lost entry) can leave the
		// pipeline's goroutines waiting on each other for good, so that
		// follower receives no more entries and Shutdown never returns
		// (hashicorp/raft#612). Sending one AppendEntries at a time cost no
		// measurable throughput on loopback (docs/PERFORMANCE.md).
		MaxRPCsInFlight: 1,
	})
	*undo = append(*undo, func() { _ = n.trans.Close() })
	n.server, err = rpc.NewServer(rpcLn, n.handle, rpc.ServerConfig{
		MaxFrame: n.cfg.Tuning.MaxMessageSize + frameOverhead,
		Logger:   n.logger,
	})
	if err != nil {
		return fmt.Errorf("consensus: %w", err)
	}
	*undo = append(*undo, func() { _ = n.server.Close() })
	n.remote, err = newRemote(network, clientTLS, n.cfg.Tuning.MaxMessageSize, n.logger)
	if err != nil {
		return err
	}
	*undo = append(*undo, func() { _ = n.remote.close() })
	n.fwd = newForwarder(n.remote, n.cfg.Tuning.MaxMessageSize)
	n.fwd.batchSizes = n.met.fwdBatch
	*undo = append(*undo, n.fwd.close)
	return nil
}

// startRaft opens storage and creates the raft instance with its observer.
func (n *Node) startRaft(undo *[]func()) error {
	rc := n.cfg.raftConfig()
	rc.Logger = logadapt.Hclog(n.logger, raftDemotions(n.removed.has, n.rejections.note)).Named("raft")
	n.batchApplyCh = rc.BatchApplyCh
	store, err := openStorage(n.cfg, rc.Logger)
	if err != nil {
		return err
	}
	n.store = store
	store.watch.closing = n.closing
	*undo = append(*undo, func() { _ = store.close() })
	n.obsCh = make(chan raft.Observation, 64)
	r, err := raft.NewRaft(rc, n.fsm, store.logs, store.stable, store.snaps, n.trans)
	if err != nil {
		return fmt.Errorf("consensus: start raft: %w", err)
	}
	*undo = append(*undo, func() { _ = r.Shutdown().Error() })
	n.raft = r
	// Blocking: raft waits for the observer goroutine rather than drop a
	// state change. That goroutine never blocks (see leadership.observe).
	// Peer changes are recorded here, in raft's goroutine, not sent.
	n.observer = raft.NewObserver(n.obsCh, true, func(o *raft.Observation) bool {
		switch d := o.Data.(type) {
		case raft.LeaderObservation, raft.RaftState:
			return true
		case raft.PeerObservation:
			n.removed.observe(d)
		}
		return false
	})
	r.RegisterObserver(n.observer)
	return nil
}

// startServices starts the goroutines: restore service, multiplexer, RPC
// server, observer and read-index loop and the readiness wait. Called with
// lifeMu held.
func (n *Node) startServices() {
	n.wg.Add(6)
	go func() {
		defer n.wg.Done()
		n.serveRestores(n.restoreLn)
	}()
	go func() {
		defer n.wg.Done()
		if err := n.mux.Serve(); err != nil {
			n.logger.Error("multiplexer stopped", "error", err)
		}
	}()
	go func() {
		defer n.wg.Done()
		if err := n.server.Serve(); err != nil {
			n.logger.Error("rpc server stopped", "error", err)
		}
	}()
	go func() {
		defer n.wg.Done()
		n.observe()
	}()
	go func() {
		defer n.wg.Done()
		n.reads.run(n.closing)
	}()
	go func() {
		defer n.wg.Done()
		n.awaitReady()
	}()
}

// observe feeds raft's observations to the leadership tracker until raft
// has shut down. The current state is fed first, in case raft changed state
// before the observer was registered.
func (n *Node) observe() {
	n.lead.stateChanged(n.raft.State())
	for {
		select {
		case o := <-n.obsCh:
			n.lead.observe(o)
		case <-n.raftDown:
			return
		}
	}
}

// advertise computes the address to advertise from the configured one and
// the bound listener address.
func advertise(configured string, bound net.Addr) (string, error) {
	_, boundPort, err := net.SplitHostPort(bound.String())
	if err != nil {
		return "", fmt.Errorf("consensus: bound address %v: %w", bound, err)
	}
	if configured == "" {
		host, _, _ := net.SplitHostPort(bound.String())
		if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
			return "", fmt.Errorf("consensus: bound %v, a wildcard address, and no AdvertiseAddr is set", bound)
		}
		return bound.String(), nil
	}
	host, port := splitMaybePort(configured)
	if port == "" || port == "0" {
		port = boundPort
	}
	return net.JoinHostPort(host, port), nil
}

// Bootstrap creates the group's first configuration on a node with no Raft
// state. Every listed server may call it with the identical list (as when
// servers discover each other); the list must include this node. It returns
// [ErrAlreadyBootstrapped] when the node already has state.
func (n *Node) Bootstrap(ctx context.Context, servers []Server) error {
	if err := n.usable(); err != nil {
		return err
	}
	conf, err := bootstrapConfiguration(n.cfg.Name, servers)
	if err != nil {
		return err
	}
	if has, err := n.store.hasState(); err != nil {
		return err
	} else if has {
		return ErrAlreadyBootstrapped
	}
	err = n.raft.BootstrapCluster(conf).Error()
	if errors.Is(err, raft.ErrCantBootstrap) {
		return ErrAlreadyBootstrapped
	}
	if err != nil {
		return fmt.Errorf("consensus: bootstrap: %w", err)
	}
	return ctx.Err()
}

func bootstrapConfiguration(self string, servers []Server) (raft.Configuration, error) {
	var conf raft.Configuration
	seen := make(map[string]bool, len(servers))
	hasSelf := false
	for _, s := range servers {
		switch {
		case s.Name == "" || s.Addr == "":
			return conf, fmt.Errorf("consensus: bootstrap: server %+v needs an ID and an address", s)
		case seen[s.Name]:
			return conf, fmt.Errorf("consensus: bootstrap: server ID %q listed twice", s.Name)
		case s.Suffrage > NonVoter:
			return conf, fmt.Errorf("consensus: bootstrap: server %q has unknown suffrage %v", s.Name, s.Suffrage)
		}
		seen[s.Name] = true
		hasSelf = hasSelf || s.Name == self
		suffrage := raft.Voter
		if s.Suffrage == NonVoter {
			suffrage = raft.Nonvoter
		}
		conf.Servers = append(conf.Servers, raft.Server{Suffrage: suffrage, ID: raft.ServerID(s.Name), Address: raft.ServerAddress(s.Addr)})
	}
	if !hasSelf {
		return conf, fmt.Errorf("consensus: bootstrap: the list does not include this server (%q)", self)
	}
	return conf, nil
}

// HasState reports whether the node holds any Raft state (log entries, a
// term or a snapshot). Only a node without state may be bootstrapped.
func (n *Node) HasState() (bool, error) {
	if err := n.usable(); err != nil {
		return false, err
	}
	return n.store.hasState()
}

// usable reports whether the node is started and not closing.
func (n *Node) usable() error {
	n.lifeMu.Lock()
	defer n.lifeMu.Unlock()
	switch {
	case n.closed:
		return ErrClosed
	case !n.started:
		return ErrNotStarted
	}
	return nil
}

// raftOrNil returns the raft instance once started.
func (n *Node) raftOrNil() *raft.Raft {
	n.lifeMu.Lock()
	defer n.lifeMu.Unlock()
	if !n.started {
		return nil
	}
	return n.raft
}

// spawn runs f on a goroutine Close waits for, unless the node is closing.
func (n *Node) spawn(f func()) bool {
	n.lifeMu.Lock()
	defer n.lifeMu.Unlock()
	if n.closed {
		return false
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
	return true
}

// beginInflight registers a wait on a raft future, unless the node is
// closing. The caller must call n.inflight.Done when the wait ends.
func (n *Node) beginInflight() bool {
	n.lifeMu.Lock()
	defer n.lifeMu.Unlock()
	if n.closed {
		return false
	}
	n.inflight.Add(1)
	return true
}

// drainTimeout bounds how long Close lets in-flight raft operations finish
// before shutting raft down.
func (n *Node) drainTimeout() time.Duration {
	rc := n.cfg.raftConfig()
	return 2*rc.ElectionTimeout + rc.CommitTimeout
}

// Close stops the node without leaving the group: a restart with the same
// DataDir returns as the same server. Writes already handed to raft get a
// chance to finish (bounded by about two election timeouts); new calls fail
// with [ErrClosed]. Close returns once every goroutine the node started has
// exited, the port is released and storage is closed. It is idempotent.
//
// A leader first hands leadership to the most up-to-date other voter, so
// that the group does not wait out an election timeout for a new one: Close
// waits for the new leader at most one election timeout, and closes anyway
// when none shows up. Close therefore returns within about three election
// timeouts, plus what the host's state machine takes to stop.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.handOverOnClose()
		n.closeErr = n.close()
	})
	return n.closeErr
}

func (n *Node) close() error {
	n.lifeMu.Lock()
	n.closed = true
	started := n.started
	n.lifeMu.Unlock()
	close(n.closing)
	n.cancelBase()
	if !started {
		n.lead.close() // subscriptions taken before Start
		return nil
	}
	if !waitTimeout(&n.inflight, n.drainTimeout()) {
		n.logger.Warn("closing with raft operations still in flight")
	}
	errs := []error{n.raft.Shutdown().Error()}
	close(n.raftDown)
	n.raft.DeregisterObserver(n.observer)
	n.lead.close()
	errs = append(errs, n.trans.Close(), n.server.Close(), n.remote.close(), n.mux.Close())
	n.fwd.close()
	n.wg.Wait()
	// Raft never answers an operation still queued for the state machine
	// when it shuts down; the drain above makes that rare. Should it happen,
	// the goroutine waiting for the answer stays behind.
	if !waitTimeout(&n.inflight, time.Second) {
		n.logger.Error("raft left operations unanswered at shutdown")
	}
	// Raft serves heartbeats on the transport's goroutines, which may still
	// persist a term: the stores close once every one has returned.
	if !n.stream.waitHandlers(5 * time.Second) {
		n.logger.Error("raft transport handlers still running at shutdown; closing the stores anyway")
	}
	errs = append(errs, n.store.close())
	n.logger.Info("consensus node closed")
	var kept []error
	for _, err := range errs {
		if err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, rpc.ErrClosed) {
			kept = append(kept, err)
		}
	}
	return errors.Join(kept...)
}

// waitTimeout waits for wg, at most d; it reports whether wg finished.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
