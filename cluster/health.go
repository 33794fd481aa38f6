package cluster

import (
	"context"
	"sync"
	"time"

	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/membership"
)

// Health describes the Raft group as a server sees it.
type Health struct {
	// Leader is the current leader and its term; zero when none is known.
	Leader consensus.LeaderInfo
	// Voters is the number of voters in the configuration; HealthyVoters
	// those among them that are alive, in contact with the leader and caught
	// up.
	Voters        int
	HealthyVoters int
	// FailureTolerance is how many more voters may fail before the group
	// loses its quorum.
	FailureTolerance int
	// Servers describes each server of the configuration, sorted by ID.
	Servers []ServerHealth
	// BootstrapError is set while this server cannot bootstrap because
	// servers disagree about BootstrapExpect.
	BootstrapError string
}

// ServerHealth describes one server of the Raft configuration.
type ServerHealth struct {
	ID       string
	Addr     string
	Suffrage consensus.Suffrage
	// Gossip is the server's membership status.
	Gossip membership.Status
	// State, LastContact, AppliedIndex and CommitIndex are as the server
	// itself reported them; Error says why it could not be asked.
	State        consensus.State
	LastContact  time.Duration
	AppliedIndex uint64
	CommitIndex  uint64
	// Lag is how many committed entries the server has yet to apply,
	// measured against the highest commit index reported.
	Lag uint64
	// Healthy: alive in gossip, answered, in recent contact with the leader,
	// and within MaxTrailingLogs of the commit index.
	Healthy bool
	Error   string
}

// Health asks every server of the configuration for its status and
// summarises the group. It needs the Raft configuration, so it works on
// servers only; a client gets [ErrNotServer].
func (n *Node) Health(ctx context.Context) (Health, error) {
	if _, err := n.membership(); err != nil {
		return Health{}, err
	}
	if n.cons == nil {
		return Health{}, ErrNotServer
	}
	servers, err := n.cons.Configuration(ctx)
	if err != nil {
		return Health{}, err
	}
	gossip := make(map[string]membership.Status)
	for _, m := range n.Members() {
		gossip[m.Name] = m.Status
	}
	statuses, errs := n.serverStatuses(ctx, servers)
	h := Health{Leader: n.cons.Leader(), BootstrapError: n.bootstrapError()}
	var commit uint64
	for _, st := range statuses {
		commit = max(commit, st.CommitIndex)
	}
	for _, s := range servers {
		sh := n.serverHealth(s, gossip[s.Name], statuses, errs, commit)
		if s.Suffrage == consensus.Voter {
			h.Voters++
			if sh.Healthy {
				h.HealthyVoters++
			}
		}
		h.Servers = append(h.Servers, sh)
	}
	h.FailureTolerance = max(0, h.HealthyVoters-quorum(h.Voters))
	return h, nil
}

func (n *Node) serverHealth(s consensus.Server, g membership.Status, statuses map[string]consensus.Status, errs map[string]error, commit uint64) ServerHealth {
	sh := ServerHealth{ID: s.Name, Addr: s.Addr, Suffrage: s.Suffrage, Gossip: g}
	st, ok := statuses[s.Name]
	if !ok {
		if err := errs[s.Name]; err != nil {
			sh.Error = err.Error()
		}
		return sh
	}
	sh.State, sh.LastContact = st.State, st.LastContact
	sh.AppliedIndex, sh.CommitIndex = st.AppliedIndex, st.CommitIndex
	if commit > st.AppliedIndex {
		sh.Lag = commit - st.AppliedIndex
	}
	sc := n.server
	sh.Healthy = g == membership.StatusAlive && st.LastContact >= 0 &&
		st.LastContact <= sc.LastContactThreshold && sh.Lag <= sc.MaxTrailingLogs
	return sh
}

// serverStatuses asks every server for its status concurrently; this node
// answers locally.
func (n *Node) serverStatuses(ctx context.Context, servers []consensus.Server) (map[string]consensus.Status, map[string]error) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := make(map[string]consensus.Status, len(servers))
	errs := make(map[string]error)
	for _, s := range servers {
		if s.Name == n.cfg.Name {
			st := n.cons.Status()
			mu.Lock()
			out[s.Name] = st
			mu.Unlock()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := n.cons.RemoteStatus(ctx, s.Addr)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs[s.Name] = err
				return
			}
			out[s.Name] = st
		}()
	}
	wg.Wait()
	return out, errs
}

// Leader returns the leader a server knows of. On a client it returns the
// zero value: clients do not follow Raft (ask a server with Health).
func (n *Node) Leader() consensus.LeaderInfo {
	if n.cons == nil {
		return consensus.LeaderInfo{}
	}
	return n.cons.Leader()
}

// OnLeader registers fn to run on a server each time it becomes leader, once
// its state machine has caught up; ctx is cancelled the moment leadership is
// lost, and term is the leadership's fencing token. fn must return soon after
// ctx is done. It may be called before or after Start; on a client fn never
// runs.
func (n *Node) OnLeader(fn func(ctx context.Context, term uint64)) {
	if n.cons == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.state == stateNew {
		n.onLead = append(n.onLead, fn)
		return
	}
	n.cons.OnLeader(fn)
}

func (n *Node) setBootstrapError(err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	n.bootErr.Store(&msg)
}

func (n *Node) bootstrapError() string {
	if p := n.bootErr.Load(); p != nil {
		return *p
	}
	return ""
}
