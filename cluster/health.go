package cluster

import (
	"context"
	"time"

	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/membership"
)

// Health describes the Raft group as a server saw it in its latest reconcile
// round (see [Node.Health]).
type Health struct {
	// Leader is the current leader and its term; zero when none is known.
	Leader consensus.LeaderInfo
	// Age is how long before the Health call the round that built this
	// picture began.
	Age time.Duration
	// CommitIndex is the group's commit index as the round read it: the
	// highest any server reported, which is the leader's when it answered.
	CommitIndex uint64
	// Voters is the number of voters in the configuration; HealthyVoters
	// those among them that are healthy (see [ServerHealth].Healthy).
	Voters        int
	HealthyVoters int
	// FailureTolerance is how many more voters may fail before the group
	// loses its quorum: healthy voters beyond a quorum of Voters. A
	// non-voter's ServerHealth.NotVoterReason says why it does not add to
	// it yet.
	FailureTolerance int
	// Servers describes each server of the configuration, sorted by ID.
	Servers []ServerHealth
	// BootstrapError is set while this server cannot bootstrap because
	// servers disagree about BootstrapExpect.
	BootstrapError string
}

// ServerHealth describes one server of the Raft configuration.
type ServerHealth struct {
	Name     string
	Addr     string
	Suffrage consensus.Suffrage
	// Gossip is the server's membership status (StatusNone when gossip does
	// not know the server).
	Gossip membership.Status
	// Known reports whether the server answered the round's status request.
	// When it did not, Error says why, and the status fields below are
	// those of its last answer, ReadAge old.
	Known bool
	// State, LastContact, AppliedIndex and CommitIndex are as the server
	// reported them, ReadAge before the Health call. If it never answered,
	// ReadAge and LastContact are negative and the others are zero.
	State        consensus.State
	LastContact  time.Duration
	AppliedIndex uint64
	CommitIndex  uint64
	ReadAge      time.Duration
	// Lag is how many entries of the group's commit index the server had yet
	// to apply when it was read.
	Lag uint64
	// Healthy: alive in gossip, answered the round's status request, heard
	// from a leader within LastContactThreshold, not stuck (behind the
	// group's commit index without applying an entry for ProgressTimeout),
	// and applied to within MaxTrailingLogs of the group's commit index. An
	// unhealthy voter does not count in FailureTolerance. The reconciler promotes
	// a non-voter only once it has been healthy, by this same verdict, for
	// ServerStabilizationTime.
	Healthy bool
	// HealthySince is when the server's current healthy streak began; zero
	// while it is unhealthy.
	HealthySince time.Time
	// Reason says why the server is not healthy, and for a stuck server what
	// the operator should do; empty while it is healthy.
	Reason string
	// Error says why the server could not be read, when Known is false.
	Error string
	// NotVoterReason says why a non-voter is not a voter yet, "" for a
	// voter: "not alive"; "catching up" (not healthy); "stabilizing" (not
	// yet healthy for ServerStabilizationTime; "stabilizing (flapping)" when
	// it came back on its own data after too short a stay to skip that
	// wait); "above MaxVoters" (every seat taken); "promotion pending" (the
	// leader promotes it in its next round).
	NotVoterReason string
}

// Health returns the group as this server saw it in its latest reconcile
// round. It asks no server anything: every server rebuilds its picture of the
// group every ReconcileInterval, and on every membership event and leader
// change; the leader plans its configuration changes from the same picture,
// so Health and the reconciler agree on which servers are healthy. The
// picture is therefore at most one ReconcileInterval old, plus the time a
// round may wait for slow servers (LastContactThreshold plus one second);
// Health.Age says how old it is. Before the first round has finished, Health
// waits for it, within ctx.
//
// It needs the Raft configuration, so it works on servers only; a client gets
// [ErrNotServer].
func (n *Node) Health(ctx context.Context) (Health, error) {
	if _, err := n.membership(); err != nil {
		return Health{}, err
	}
	if n.cons == nil {
		return Health{}, ErrNotServer
	}
	st, err := n.latestState(ctx)
	if err != nil {
		return Health{}, err
	}
	return st.health(time.Now(), n.server.policy()), nil
}

// publishState makes st the state Health reads. Only the reconciler calls it.
func (n *Node) publishState(st *groupState) {
	if n.group.Swap(st) == nil {
		close(n.groupReady)
	}
}

// latestState returns the last published group state, waiting for the first
// one within ctx.
func (n *Node) latestState(ctx context.Context) (*groupState, error) {
	if st := n.group.Load(); st != nil {
		return st, nil
	}
	select {
	case <-n.groupReady:
		return n.group.Load(), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-n.ctx.Done():
		return nil, ErrClosed
	}
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
