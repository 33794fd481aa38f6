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

// reconciler is the server's background loop: it bootstraps a fresh server
// when enough servers are alive, and on the leader keeps the Raft
// configuration in line with gossip. One goroutine owns all its fields.
type reconciler struct {
	n      *Node
	cons   *consensus.Node
	cfg    ConsensusConfig
	logger *slog.Logger

	bootstrapDone bool
	lastWarning   string
	seen          map[string]stateSince // gossip state of each server, and since when
	health        map[string]serverHealth
}

type stateSince struct {
	state gossipState
	since time.Time
}

// rpcTimeout bounds one status request or one configuration change.
const rpcTimeout = 5 * time.Second

func newReconciler(n *Node) *reconciler {
	return &reconciler{
		n:      n,
		cons:   n.cons,
		cfg:    *n.server,
		logger: n.logger.With("component", "reconcile"),
		seen:   make(map[string]stateSince),
		health: make(map[string]serverHealth),
	}
}

// run reconciles on every membership event and every leader change (wake
// has them, coalesced) and every ReconcileInterval, until ctx ends.
func (r *reconciler) run(ctx context.Context, wake <-chan struct{}) {
	ticker := time.NewTicker(r.cfg.ReconcileInterval)
	defer ticker.Stop()
	for {
		r.round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-ticker.C:
		}
	}
}

func (r *reconciler) round(ctx context.Context) {
	now := time.Now()
	gossip := r.observeGossip(now)
	if !r.bootstrapDone {
		r.tryBootstrap(ctx, gossip)
	}
	if st := r.cons.Status(); st.State == consensus.StateLeader {
		r.reconcile(ctx, now, gossip, st.CommitIndex)
	} else {
		clear(r.health)
	}
}

// observeGossip returns what gossip says about every server, remembering
// since when each has been in its state.
func (r *reconciler) observeGossip(now time.Time) map[string]gossipServer {
	out := make(map[string]gossipServer)
	for _, m := range r.n.Members() {
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
		prev, known := r.seen[m.Name]
		if !known || prev.state != st {
			prev = stateSince{state: st, since: now}
			r.seen[m.Name] = prev
		}
		expect, _ := strconv.Atoi(m.Tags[tagExpect])
		out[m.Name] = gossipServer{ID: m.Name, RaftAddr: m.RPCAddr, State: st, Since: prev.since, Expect: expect}
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
		cfg = append(cfg, consensus.Server{ID: s.ID, Addr: s.Addr, Suffrage: consensus.Voter})
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
		if s.ID == r.n.cfg.NodeName {
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

func (r *reconciler) warnOnce(msg string) {
	if msg != r.lastWarning {
		r.logger.Warn(msg)
		r.lastWarning = msg
	}
}

// reconcile runs one leader round: snapshot, plan, apply.
func (r *reconciler) reconcile(ctx context.Context, now time.Time, gossip map[string]gossipServer, commit uint64) {
	cctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	servers, err := r.cons.Configuration(cctx)
	cancel()
	if err != nil {
		r.logger.Debug("reconcile: no configuration", "error", err)
		return
	}
	raftServers := make([]raftServer, 0, len(servers))
	for _, s := range servers {
		raftServers = append(raftServers, raftServer{ID: s.ID, Addr: s.Addr, Voter: s.Suffrage == consensus.Voter})
		if _, ok := gossip[s.ID]; !ok && s.ID != r.n.cfg.NodeName {
			gossip[s.ID] = r.missing(s.ID, now)
		}
	}
	r.forget(gossip)
	fresh := r.probeHealth(ctx, now, raftServers, commit)
	in := reconcileInput{
		Now: now, Self: r.n.cfg.NodeName, Gossip: gossip, Raft: raftServers,
		Health: r.health, Fresh: fresh, Policy: r.cfg.policy(),
	}
	plan := planReconcile(in)
	r.logger.Debug("reconcile round", "servers", len(raftServers), "changes", len(plan), "gossip", fmtGossip(gossip))
	for _, c := range plan {
		if ctx.Err() != nil {
			return
		}
		r.apply(ctx, c)
	}
}

// forget drops what the reconciler remembers of servers that are neither in
// gossip nor in the configuration any more (gossip already holds both).
func (r *reconciler) forget(gossip map[string]gossipServer) {
	for id := range r.seen {
		if _, ok := gossip[id]; !ok {
			delete(r.seen, id)
		}
	}
	for id := range r.health {
		if _, ok := gossip[id]; !ok {
			delete(r.health, id)
		}
	}
}

// missing records a configured server that gossip does not know; it counts
// as failed since it was first noticed missing.
func (r *reconciler) missing(id string, now time.Time) gossipServer {
	prev, ok := r.seen[id]
	if !ok || prev.state != gossipFailed {
		prev = stateSince{state: gossipFailed, since: now}
		r.seen[id] = prev
	}
	return gossipServer{ID: id, State: gossipFailed, Since: prev.since}
}

// probeHealth asks every other configured server for its status, updates the
// health streaks and returns the servers that hold no Raft state at all.
func (r *reconciler) probeHealth(ctx context.Context, now time.Time, servers []raftServer, commit uint64) map[string]bool {
	statuses := r.statuses(ctx, servers)
	fresh := make(map[string]bool)
	for _, s := range servers {
		if s.ID == r.n.cfg.NodeName {
			continue
		}
		st, ok := statuses[s.ID]
		healthy := ok && r.healthy(st, commit)
		if ok && !st.HasState {
			fresh[s.ID] = true
		}
		prev := r.health[s.ID]
		switch {
		case !healthy:
			r.health[s.ID] = serverHealth{}
		case !prev.Healthy:
			r.health[s.ID] = serverHealth{Healthy: true, HealthySince: now}
		}
	}
	return fresh
}

func (r *reconciler) healthy(st consensus.Status, leaderCommit uint64) bool {
	if st.LastContact < 0 || st.LastContact > r.cfg.LastContactThreshold {
		return false
	}
	return st.AppliedIndex+r.cfg.MaxTrailingLogs >= leaderCommit
}

// statuses asks the given servers for their status concurrently.
func (r *reconciler) statuses(ctx context.Context, servers []raftServer) map[string]consensus.Status {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.LastContactThreshold+time.Second)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := make(map[string]consensus.Status, len(servers))
	for _, s := range servers {
		if s.ID == r.n.cfg.NodeName {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := r.cons.RemoteStatus(ctx, s.Addr)
			if err != nil {
				return
			}
			mu.Lock()
			out[s.ID] = st
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// apply carries out one planned change.
func (r *reconciler) apply(ctx context.Context, c change) {
	ctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
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
	if err != nil {
		r.logger.Warn("reconcile: change failed", "change", c.String(), "error", err)
		return
	}
	r.logger.Info("reconcile: "+c.Op.String(), "server", c.ID, "addr", c.Addr, "reason", c.Reason)
}

func fmtGossip(g map[string]gossipServer) string {
	var b strings.Builder
	for _, id := range sortedIDs(g) {
		fmt.Fprintf(&b, "%s=%s ", id, g[id].State)
	}
	return b.String()
}
