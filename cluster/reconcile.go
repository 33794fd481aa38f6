package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/membership"
)

// reconciler is the server's background loop. Every round it bootstraps a
// fresh server when enough servers are alive, builds the group state (state.go)
// and publishes it for Health; on the leader it then keeps the Raft
// configuration in line with gossip, planning from that same state. One
// goroutine owns all its fields.
type reconciler struct {
	n      *Node
	cons   *consensus.Node
	cfg    serverSettings
	logger *slog.Logger

	bootstrapDone bool
	lastWarning   string
	state         *groupState // the last state built; nil before the first
}

// rpcTimeout bounds one configuration request or change, and one status
// request of the bootstrap check.
const rpcTimeout = 5 * time.Second

func newReconciler(n *Node) *reconciler {
	return &reconciler{
		n:      n,
		cons:   n.cons,
		cfg:    *n.server,
		logger: n.logger.With("component", "reconcile"),
	}
}

// run reconciles on every membership event and every leader change (wake
// has them, coalesced) and every ReconcileInterval, until ctx ends.
//
// While the leader waits for a returning server to catch up, or has just
// changed the configuration, it runs the next round after followUpDelay
// instead: a server back on its own data regains its seat within a round or
// two of catching up, not a ReconcileInterval later.
func (r *reconciler) run(ctx context.Context, wake <-chan struct{}) {
	ticker := time.NewTicker(r.cfg.ReconcileInterval)
	defer ticker.Stop()
	followUp := time.NewTimer(time.Hour)
	followUp.Stop()
	defer followUp.Stop()
	for {
		if r.round(ctx) {
			followUp.Reset(r.followUpDelay())
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-ticker.C:
		case <-followUp.C:
		}
	}
}

// followUpDelay is how soon a round that asked for a follow-up is followed.
func (r *reconciler) followUpDelay() time.Duration {
	return min(r.cfg.ReconcileInterval, 200*time.Millisecond)
}

// round runs one reconcile round; it reports whether the next round should
// come soon.
func (r *reconciler) round(ctx context.Context) bool {
	now := time.Now()
	gossip := gossipServers(r.n.Members())
	if !r.bootstrapDone {
		r.tryBootstrap(ctx, gossip)
	}
	st, err := r.observe(ctx, now, gossip)
	if err != nil {
		r.logger.Debug("reconcile: no group state this round", "error", err)
		return false
	}
	prev := r.state
	r.state = st
	r.n.publishState(st)
	if !st.leading() {
		return false
	}
	r.warnStuck(prev, st)
	changed := r.reconcile(ctx, st)
	return changed || (reconcileInput{groupState: st, Policy: r.cfg.policy()}).awaitingReturn()
}

// gossipServers returns what gossip says about every server; Since is left
// for buildState.
func gossipServers(members []membership.Member) map[string]gossipServer {
	out := make(map[string]gossipServer)
	for _, m := range members {
		if m.Role != membership.RoleServer {
			continue
		}
		st, ok := gossipStateOf(m.Status)
		if !ok {
			continue
		}
		if st == gossipAlive && m.Tags[tagLeaving] != "" {
			st = gossipLeft // on its way out: never re-add it
		}
		expect, _ := strconv.Atoi(m.Tags[tagExpect])
		out[m.Name] = gossipServer{ID: m.Name, RaftAddr: m.RPCAddr, State: st, Expect: expect, Member: m.Status,
			HasData: m.Tags[tagHasData] != ""}
	}
	return out
}

func gossipStateOf(s membership.Status) (gossipState, bool) {
	switch s {
	case membership.StatusAlive:
		return gossipAlive, true
	case membership.StatusFailed:
		return gossipFailed, true
	case membership.StatusLeft:
		return gossipLeft, true
	}
	return 0, false
}

// tryBootstrap bootstraps a fresh server once planBootstrap says the expected
// servers are alive and none of them already has Raft state.
func (r *reconciler) tryBootstrap(ctx context.Context, gossip map[string]gossipServer) {
	expect := r.cfg.BootstrapExpect
	if has, err := r.cons.HasState(); expect == 0 || (err == nil && has) {
		r.bootstrapDone = true
		return
	}
	var alive []gossipServer
	for _, g := range gossip {
		if g.State == gossipAlive {
			alive = append(alive, g)
		}
	}
	servers, err := planBootstrap(expect, alive)
	if err != nil {
		r.warnOnce(err.Error())
		r.n.setBootstrapError(err)
		return
	}
	r.n.setBootstrapError(nil)
	if servers == nil {
		return
	}
	has, err := r.peerHasState(ctx, servers)
	if err != nil {
		r.logger.Debug("bootstrap: cannot ask every peer for its state; will retry", "error", err)
		return
	}
	if has {
		r.bootstrapDone = true
		return
	}
	cfg := make([]consensus.Server, 0, len(servers))
	for _, s := range servers {
		cfg = append(cfg, consensus.Server{Name: s.ID, Addr: s.Addr, Suffrage: consensus.Voter})
	}
	bctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	err = r.cons.Bootstrap(bctx, cfg)
	switch {
	case err == nil:
		r.logger.Info("bootstrapped the cluster", "servers", len(cfg))
		r.bootstrapDone = true
	case errors.Is(err, consensus.ErrAlreadyBootstrapped):
		r.bootstrapDone = true
	default:
		r.logger.Warn("bootstrap failed; will retry", "error", err)
	}
}

// peerHasState reports whether any other expected server already holds Raft
// state (then the cluster exists and its leader will add this server). An
// error means some peer could not be asked; the caller tries again later.
func (r *reconciler) peerHasState(ctx context.Context, servers []raftServer) (bool, error) {
	for _, s := range servers {
		if s.ID == r.n.cfg.Name {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, rpcTimeout)
		st, err := r.cons.RemoteStatus(sctx, s.Addr)
		cancel()
		if err != nil {
			return false, err
		}
		if st.HasState {
			r.logger.Info("bootstrap: peer already has Raft state; waiting to be added", "peer", s.ID)
			return true, nil
		}
	}
	return false, nil
}

// warnStuck logs, on the leader, each server that has just turned stuck.
func (r *reconciler) warnStuck(prev, st *groupState) {
	for id, s := range st.Server {
		if !strings.HasPrefix(s.Reason, stuckPrefix) {
			continue
		}
		if prev != nil && strings.HasPrefix(prev.Server[id].Reason, stuckPrefix) {
			continue
		}
		r.logger.Warn("reconcile: server is stuck and counts as unhealthy", "server", id, "reason", s.Reason)
	}
}

func (r *reconciler) warnOnce(msg string) {
	if msg != r.lastWarning {
		r.logger.Warn(msg)
		r.lastWarning = msg
	}
}

// observe gathers the round's inputs (this server's own status, the Raft
// configuration, every other configured server's status) and builds the
// group state from them and the previous state.
func (r *reconciler) observe(ctx context.Context, now time.Time, gossip map[string]gossipServer) (*groupState, error) {
	self := r.cons.Status()
	selfAt := time.Now()
	cctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	servers, err := r.cons.Configuration(cctx)
	cancel()
	if err != nil {
		return nil, err
	}
	raftServers := make([]raftServer, 0, len(servers))
	for _, s := range servers {
		raftServers = append(raftServers, raftServer{ID: s.Name, Addr: s.Addr, Voter: s.Suffrage == consensus.Voter})
	}
	readings := r.readStatuses(ctx, raftServers, statusReading{Status: self, At: selfAt})
	if err := ctx.Err(); err != nil {
		return nil, err // stopping: the readings failed for our own reasons
	}
	return buildState(r.state, stateInput{
		Time:           now,
		Self:           r.n.cfg.Name,
		Leader:         self.Leader,
		Gossip:         gossip,
		Raft:           raftServers,
		Readings:       readings,
		Policy:         r.cfg.healthPolicy(),
		BootstrapError: r.n.bootstrapError(),
	}), nil
}

// statusTimeout bounds the status requests of one round.
func (r *reconciler) statusTimeout() time.Duration {
	return r.cfg.LastContactThreshold + time.Second
}

// readStatuses asks every configured server but this one for its status,
// concurrently, and returns one reading per configured server; this one's is
// self, read locally.
func (r *reconciler) readStatuses(ctx context.Context, servers []raftServer, self statusReading) map[string]statusReading {
	ctx, cancel := context.WithTimeout(ctx, r.statusTimeout())
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := make(map[string]statusReading, len(servers))
	for _, s := range servers {
		if s.ID == r.n.cfg.Name {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := r.cons.RemoteStatus(ctx, s.Addr)
			at := time.Now()
			mu.Lock()
			defer mu.Unlock()
			out[s.ID] = statusReading{Status: st, Err: err, At: at, Rejections: r.cons.LogRejections(s.Addr)}
		}()
	}
	wg.Wait()
	for _, s := range servers {
		if s.ID == r.n.cfg.Name {
			out[s.ID] = self
		}
	}
	return out
}

// reconcile plans from the round's state and applies the changes one by one;
// it reports whether it made any.
func (r *reconciler) reconcile(ctx context.Context, st *groupState) bool {
	plan := planReconcile(st, r.cfg.policy())
	r.logger.Debug("reconcile round", "servers", len(st.Raft), "changes", len(plan), "gossip", fmtGossip(st.Gossip))
	made := false
	for _, c := range plan {
		if ctx.Err() != nil {
			break
		}
		made = r.apply(ctx, c) || made
	}
	return made
}

// apply carries out one planned change and reports whether it succeeded.
func (r *reconciler) apply(ctx context.Context, c change) bool {
	ctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	if c.Op == opAddNonVoter || c.Op == opUpdateAddr {
		// Under mutual TLS a gossip member gets a seat only for the name its
		// certificate proves.
		if err := r.cons.VerifyServer(ctx, c.ID, c.Addr); err != nil {
			r.warnOnce("reconcile: not giving " + c.ID + " a Raft seat: " + err.Error())
			return false
		}
	}
	var err error
	switch c.Op {
	case opAddNonVoter:
		err = r.cons.AddNonVoter(ctx, c.ID, c.Addr)
	case opPromote:
		err = r.cons.Promote(ctx, c.ID)
	case opDemote:
		err = r.cons.Demote(ctx, c.ID)
	case opRemove:
		err = r.cons.RemoveServer(ctx, c.ID)
	case opUpdateAddr:
		if c.Voter {
			err = r.cons.AddVoter(ctx, c.ID, c.Addr)
		} else {
			err = r.cons.AddNonVoter(ctx, c.ID, c.Addr)
		}
	}
	r.n.counts.done(c.Op, err)
	if err != nil {
		r.logger.Warn("reconcile: change failed", "change", c.String(), "error", err)
		return false
	}
	r.logger.Info("reconcile: "+c.Op.String(), "server", c.ID, "addr", c.Addr, "reason", c.Reason)
	return true
}

func fmtGossip(g map[string]gossipServer) string {
	var b strings.Builder
	for _, id := range sortedIDs(g) {
		fmt.Fprintf(&b, "%s=%s ", id, g[id].State)
	}
	return b.String()
}
