package membership

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/conclave-go/conclave/internal/errs"
	"github.com/conclave-go/conclave/internal/logadapt"
	"github.com/conclave-go/conclave/internal/netx"
)

// lifecycle is the state of a Membership.
type lifecycle uint8

const (
	stateNew lifecycle = iota
	stateRunning
	stateLeaving
	stateClosed
)

// Membership is one node's gossip membership. Create it with New, then
// Start it; Close (or Leave) stops it. All methods are safe for concurrent
// use.
type Membership struct {
	cfg     Config
	timing  Timing
	mlConf  *memberlist.Config
	keyring *memberlist.Keyring
	logger  *slog.Logger
	network netx.Network
	meta    *localMeta
	hub     *hub
	msgs    *messaging
	coords  *coords
	lookup  func(ctx context.Context, host string) ([]string, error)

	conflicts conflictLog
	joining   atomic.Bool // Start's initial join is in progress

	mu    sync.Mutex // guards state, ml, tr
	state lifecycle
	ml    *memberlist.Memberlist
	tr    *transport

	// mlMu serializes ml.Leave with ml.Shutdown: memberlist panics when
	// Leave runs after Shutdown.
	mlMu sync.Mutex

	loopCtx    context.Context // cancelled to stop the background loops
	loopCancel context.CancelFunc
	loops      sync.WaitGroup
	spawnMu    sync.Mutex // guards stopped; orders loops.Add with loops.Wait
	stopped    bool
	stopOnce   sync.Once
	closeOnce  sync.Once
	syncReq    chan struct{} // capacity 1: "run a join sync burst"
}

// New validates cfg and prepares a node. It opens no socket and starts no
// goroutine.
func New(cfg Config) (*Membership, error) {
	cfg = cfg.clone().withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.SnapshotPath != "" {
		seeds, err := snapshotSeeds(cfg.SnapshotPath, cfg.Name)
		if err != nil && !errors.Is(err, errBadSnapshot) {
			return nil, errs.Wrap("SnapshotPath", cfg.SnapshotPath, err)
		}
		if err != nil {
			logadapt.OrDiscard(cfg.Logger).Warn("ignoring a malformed member snapshot", "component", "membership", "node", cfg.Name, "error", err)
		}
		cfg.Seeds = append(cfg.Seeds, seeds...)
	}
	mc, timing := buildMemberlistConfig(cfg)
	if err := validateEffective(timing); err != nil {
		return nil, err
	}
	meta, err := newLocalMeta(cfg)
	if err != nil {
		return nil, errs.Wrap("Tags", fmt.Sprintf("%d tags", len(cfg.Tags)), err)
	}
	logger := logadapt.OrDiscard(cfg.Logger).With("component", "membership", "node", cfg.Name)
	m := &Membership{
		cfg:     cfg,
		timing:  timing,
		mlConf:  mc,
		logger:  logger,
		network: netx.OrReal(cfg.Network),
		meta:    meta,
		hub:     newHub(cfg.Name),
		coords:  newCoords(rand.Uint64()),
		lookup:  net.DefaultResolver.LookupHost,
		syncReq: make(chan struct{}, 1),
	}
	if len(cfg.Keys) > 0 {
		m.keyring, err = memberlist.NewKeyring(cfg.Keys[1:], cfg.Keys[0])
		if err != nil {
			return nil, errs.Wrap("Keys", fmt.Sprintf("%d keys", len(cfg.Keys)), err)
		}
	}
	m.msgs = newMessaging(cfg, m.numAlive, userRetransmitFactor*mc.RetransmitMult)
	m.msgs.queries.internal = m.keyHandlers()
	m.loopCtx, m.loopCancel = context.WithCancel(context.Background())
	return m, nil
}

// buildMemberlistConfig returns the memberlist settings (without transport
// and delegates, which Start adds) and the effective timing.
func buildMemberlistConfig(cfg Config) (*memberlist.Config, Timing) {
	var mc *memberlist.Config
	if cfg.Tuning.Memberlist != nil {
		c := *cfg.Tuning.Memberlist
		mc = &c
		cfg.Tuning.Timing.applyTo(mc)
	} else {
		mc = profileBase(cfg.Profile)
		cfg.Profile.Timing().override(cfg.Tuning.Timing).applyTo(mc)
	}
	timing := cfg.Profile.Timing().override(cfg.Tuning.Timing)
	own := timingFrom(mc)
	own.RejoinInterval, own.ReconnectInterval = timing.RejoinInterval, timing.ReconnectInterval
	own.ReconnectTimeout, own.TombstoneTimeout = timing.ReconnectTimeout, timing.TombstoneTimeout
	own.ReapInterval, own.JoinSyncRounds = timing.ReapInterval, timing.JoinSyncRounds
	own.JoinSyncInterval, own.LeavePropagateDelay = timing.JoinSyncInterval, timing.LeavePropagateDelay
	return mc, own
}

func profileBase(p Profile) *memberlist.Config {
	switch p {
	case Local:
		mc := memberlist.DefaultLocalConfig()
		mc.EnableCompression = false // pointless on one machine, costly in CPU
		return mc
	case WAN:
		return memberlist.DefaultWANConfig()
	default:
		mc := memberlist.DefaultLANConfig()
		// memberlist compresses every datagram, pings and acks included,
		// with a new LZW writer (a 64 KiB table) each time: at 100 members
		// on LAN timing that held two cores at idle, against a quarter of
		// one without it (docs/PERFORMANCE.md, "Membership at scale").
		// Members with compression on or off understand each other.
		mc.EnableCompression = false
		return mc
	}
}

// Timing returns the timing values in effect: the profile's, overridden by
// Config.Tuning and, for memberlist's fields, by Config.Tuning.Memberlist.
func (m *Membership) Timing() Timing { return m.timing }

// Start binds the gossip port, announces the node and joins the seeds.
//
// With Config.WaitForJoin, Start returns only once a seed answered (or
// another node joined this one), or with an error when ctx is done first.
// Otherwise a single attempt is made and Start returns nil even if no seed
// answered; the node keeps trying in the background while it is alone.
// A name conflict (another live node uses Config.Name) is always an error.
// When Start fails the node is closed.
func (m *Membership) Start(ctx context.Context) error {
	if err := m.launch(); err != nil {
		if !errors.Is(err, ErrAlreadyStarted) && !errors.Is(err, ErrClosed) {
			_ = m.Close()
		}
		return err
	}
	if err := m.initialJoin(ctx); err != nil {
		_ = m.Close()
		return err
	}
	return nil
}

// launch creates the transport and memberlist and starts the loops.
func (m *Membership) launch() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch m.state {
	case stateRunning, stateLeaving:
		return ErrAlreadyStarted
	case stateClosed:
		return ErrClosed
	}
	maxStreams, perIP := m.cfg.Tuning.streamLimits()
	tr, err := newTransport(m.network, m.cfg.BindAddr, m.logger, maxStreams, perIP)
	if err != nil {
		return err
	}
	var snapSub *Subscription
	if m.cfg.SnapshotPath != "" {
		snapSub = m.hub.subscribe(64)
	}
	ml, err := memberlist.Create(m.finishConfig(tr))
	if err != nil {
		_ = tr.Shutdown()
		if snapSub != nil {
			snapSub.Close()
		}
		return fmt.Errorf("membership: start memberlist: %w", err)
	}
	if snapSub != nil {
		m.loops.Add(1)
		go m.snapshotLoop(snapSub)
	}
	m.ml, m.tr, m.state = ml, tr, stateRunning
	m.loops.Add(2)
	go m.maintainLoop()
	go m.syncLoop()
	if m.msgs.coal != nil {
		m.loops.Add(1)
		go m.coalesceLoop()
	}
	local := ml.LocalNode()
	m.logger.Info("gossip started", "address", local.Address(), "profile", m.cfg.Profile.String())
	return nil
}

// finishConfig sets the fields Conclave owns on a copy of the prepared
// memberlist settings.
func (m *Membership) finishConfig(tr *transport) *memberlist.Config {
	mc := *m.mlConf
	mc.Name = m.cfg.Name
	mc.Transport = tr
	ip, port := tr.boundAddr()
	mc.BindAddr, mc.BindPort = ip.String(), port
	mc.AdvertiseAddr, mc.AdvertisePort = "", 0
	if m.cfg.AdvertiseAddr != "" {
		aip, aport, _ := splitAdvertise(m.cfg.AdvertiseAddr)
		mc.AdvertiseAddr, mc.AdvertisePort = aip.String(), aport
	}
	mc.Label, mc.SkipInboundLabelCheck = m.cfg.Label, false
	mc.SecretKey, mc.Keyring = nil, m.keyring
	mc.Delegate = &delegate{m: m}
	mc.DelegateProtocolVersion, mc.DelegateProtocolMin, mc.DelegateProtocolMax = 0, 0, 0
	mc.Events = &eventDelegate{m: m}
	mc.Conflict = &conflictDelegate{m: m}
	mc.Merge = &mergeDelegate{m: m}
	mc.Alive = aliveDelegate{}
	mc.Ping = &pingDelegate{m: m}
	mc.Logger, mc.LogOutput = logadapt.StdLogger(m.logger, memberlistDemotions(tr.closing)), nil
	// A name whose holder was declared failed may be taken over at once by
	// a node at another address: a restart on a new address.
	mc.DeadNodeReclaimTime = time.Nanosecond
	return &mc
}

// running returns memberlist if the node is running.
func (m *Membership) running() (*memberlist.Memberlist, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch m.state {
	case stateNew:
		return nil, ErrNotStarted
	case stateRunning:
		return m.ml, nil
	default:
		return nil, ErrClosed
	}
}

// Close stops the node without announcing a departure: the other members
// detect it as failed. It is safe to call more than once and returns after
// every goroutine the node started has exited and its sockets are closed.
// Subscriptions are closed.
func (m *Membership) Close() error {
	m.closeOnce.Do(m.shutdown)
	return nil
}

func (m *Membership) shutdown() {
	m.mu.Lock()
	m.state = stateClosed
	ml := m.ml
	m.mu.Unlock()
	m.stopLoops()
	if ml != nil {
		m.mlMu.Lock()
		_ = ml.Shutdown()
		m.mlMu.Unlock()
		m.logger.Info("gossip stopped")
	}
	m.hub.close()
	m.msgs.subs.Close()
}

// stopLoops cancels the background loops and waits for them. Shutting the
// transport down also aborts any dial they are blocked in.
func (m *Membership) stopLoops() {
	m.stopOnce.Do(func() {
		m.spawnMu.Lock()
		m.stopped = true
		m.spawnMu.Unlock()
		m.loopCancel()
		m.loops.Wait()
	})
}

// spawn runs f in a goroutine that stopLoops waits for; it reports false,
// without running f, once the loops are stopping.
func (m *Membership) spawn(f func()) bool {
	m.spawnMu.Lock()
	defer m.spawnMu.Unlock()
	if m.stopped {
		return false
	}
	m.loops.Add(1)
	go func() {
		defer m.loops.Done()
		f()
	}()
	return true
}

// Leave departs gracefully and closes the node. It sets a leaving flag in
// its metadata and hands that directly to every alive member (up to 64; the
// rest learn it by gossip), broadcasts its leave, waits LeavePropagateDelay
// for the broadcast to spread, and closes. The others record a leave, not a
// failure, even if the broadcast misses them. ctx bounds the whole; the node
// is closed whatever the outcome.
func (m *Membership) Leave(ctx context.Context) error {
	m.mu.Lock()
	state, ml := m.state, m.ml
	if state == stateRunning {
		m.state = stateLeaving
	}
	m.mu.Unlock()
	switch state {
	case stateNew:
		return ErrNotStarted
	case stateLeaving, stateClosed:
		return ErrClosed
	}
	defer m.Close()
	m.stopLoops()
	if m.cfg.SnapshotPath != "" {
		m.saveSnapshot(true)
	}
	m.announceLeaving(ctx, ml, min(m.timing.StreamTimeout, m.leaveTimeout(ctx)))
	m.mlMu.Lock()
	err := ml.Leave(m.leaveTimeout(ctx))
	m.mlMu.Unlock()
	if err != nil {
		return fmt.Errorf("membership: leave: %w", err)
	}
	m.logger.Info("left the cluster")
	return waitCtx(ctx, m.timing.LeavePropagateDelay)
}

// leaveTimeout is how long the leave broadcast may take: until ctx's
// deadline when it has one (a loaded machine may need longer than a stream
// exchange to get the leave gossiped), StreamTimeout otherwise. It is
// computed when needed, so Leave's steps together stay within ctx.
func (m *Membership) leaveTimeout(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond)
	}
	return m.timing.StreamTimeout
}

// announceLeaving sets the leaving flag and makes sure the alive members
// have it before the leave itself is broadcast.
func (m *Membership) announceLeaving(ctx context.Context, ml *memberlist.Memberlist, timeout time.Duration) {
	if err := m.meta.markLeaving(); err != nil {
		m.logger.Warn("cannot set the leaving flag; peers may record a failure", "error", err)
		return
	}
	if err := ml.UpdateNode(timeout); err != nil {
		m.logger.Debug("leaving flag not yet confirmed sent", "error", err)
	}
	var alive []Member
	m.hub.read(func(t *table) { alive = t.withStatus(StatusAlive) })
	m.exchange(ctx, ml, syncTargets(alive, 0, rand.Perm))
}

// waitCtx waits d or until ctx is done.
func waitCtx(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Members returns every known member, sorted by name: alive ones, and
// failed or left ones until they are reaped. It includes the local node.
// It is the current truth to resynchronise from after missed events.
func (m *Membership) Members() []Member {
	var out []Member
	m.hub.read(func(t *table) { out = t.members() })
	return out
}

// Local returns the local node as the cluster sees it. Before Start its
// address is unset and its Status is StatusNone.
func (m *Membership) Local() Member {
	var (
		member Member
		ok     bool
	)
	m.hub.read(func(t *table) { member, ok = t.get(m.cfg.Name) })
	if ok {
		return member
	}
	meta := m.meta.current()
	return Member{Name: m.cfg.Name, Role: meta.Role, RPCAddr: meta.RPCAddr, Protocol: meta.Protocol, Tags: meta.Tags}
}

// Subscribe returns a subscription to membership events with a queue of
// size events (1024 when size <= 0). It may be called before Start, to see
// the local node's own join. Subscribe first, then
// read Members, to miss nothing: a member may then appear in both. See
// Subscription for the delivery contract.
func (m *Membership) Subscribe(size int) *Subscription {
	return m.hub.subscribe(size)
}

// numAlive returns the number of alive members, the local node included.
func (m *Membership) numAlive() int {
	var n int
	m.hub.read(func(t *table) { n = len(t.withStatus(StatusAlive)) })
	return n + 1
}

// alone reports whether no other member is alive.
func (m *Membership) alone() bool {
	var n int
	m.hub.read(func(t *table) { n = len(t.withStatus(StatusAlive)) })
	return n == 0
}
