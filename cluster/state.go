package cluster

import (
	"fmt"
	"time"

	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/membership"
)

// This file holds the group state: one immutable picture of the Raft group,
// built once per reconcile round from what that round gathered, and read by
// both the reconciler's plan and Node.Health. Like plan.go it is pure: the
// reconciler does the I/O and hands buildState its results.

// groupState is what one server knew about the Raft group at the end of one
// reconcile round. It is never modified once built; the next round builds a
// new one from it.
type groupState struct {
	Time   time.Time            // when the round that built it began
	Self   string               // the server that built it
	Leader consensus.LeaderInfo // the leader Self knew of (zero when none)
	// CommitIndex is the highest commit index read in the round: the
	// leader's whenever the leader answered, since no server knows of a later
	// commit than the leader does. Lag and health are measured against it.
	CommitIndex uint64
	// Gossip holds every server gossip knows, and every configured server it
	// does not know (as failed since first noticed missing).
	Gossip map[string]gossipServer
	Raft   []raftServer           // the Raft configuration, sorted by ID
	Server map[string]serverState // one per configured server
	// BootstrapError says why Self could not bootstrap, if it could not.
	BootstrapError string
}

// serverState is one configured server in a group state.
type serverState struct {
	// Known reports whether the server answered the round's status request.
	// When it did not, Err says why, and Status is the last answer it gave
	// (read at ReadAt; zero if it never answered).
	Known  bool
	Err    string
	Status consensus.Status
	ReadAt time.Time
	// Healthy is the verdict of serverHealthy for this round, and Reason
	// why not when it is false; HealthySince the start of the current
	// healthy streak (zero while unhealthy).
	Healthy      bool
	Reason       string
	HealthySince time.Time
	// Progress is when the server was last seen applying: its applied index
	// changed or had reached the group's commit index (zero: never read).
	Progress time.Time
	// UnhealthySince is the start of the current unhealthy streak (zero
	// while healthy).
	UnhealthySince time.Time
	// Rejections are the server's refusals of this node's replication as
	// leader, as of the latest round.
	Rejections consensus.LogRejections
}

// statusReading is one status request of a round: the answer or the error,
// and when it came.
type statusReading struct {
	Status consensus.Status
	Err    error
	At     time.Time
	// Rejections are the server's refusals of this node's replication, as
	// leader (zero on other nodes).
	Rejections consensus.LogRejections
}

// healthPolicy holds the thresholds of serverHealthy.
type healthPolicy struct {
	LastContactThreshold time.Duration
	MaxTrailingLogs      uint64
	// ProgressTimeout is how long a server behind the commit index may go
	// without applying an entry before it counts as stuck.
	ProgressTimeout time.Duration
}

// stateInput is everything one round gathered; buildState needs nothing else.
type stateInput struct {
	Time     time.Time
	Self     string
	Leader   consensus.LeaderInfo
	Gossip   map[string]gossipServer // server members; Since is filled in by buildState
	Raft     []raftServer
	Readings map[string]statusReading // by server ID; a configured server missing here was not asked
	Policy   healthPolicy
	// BootstrapError is why Self could not bootstrap, "" if it could.
	BootstrapError string
}

// errNotAsked is the reading error of a configured server the round did not
// ask for its status.
const errNotAsked = "not asked for its status this round"

// buildState builds the group state of a round from what the round gathered
// and the previous state (nil on the first round), which carries the time
// each server entered its gossip state, its last successful reading and its
// healthy streak.
func buildState(prev *groupState, in stateInput) *groupState {
	st := &groupState{
		Time:           in.Time,
		Self:           in.Self,
		Leader:         in.Leader,
		Raft:           sortedRaft(in.Raft),
		Gossip:         nextGossip(prev, in),
		Server:         make(map[string]serverState, len(in.Raft)),
		BootstrapError: in.BootstrapError,
	}
	for _, r := range in.Readings {
		if r.Err == nil {
			st.CommitIndex = max(st.CommitIndex, r.Status.CommitIndex)
		}
	}
	for _, s := range st.Raft {
		var old serverState
		if prev != nil {
			old = prev.Server[s.ID]
		}
		st.Server[s.ID] = nextServer(old, in.Readings, s.ID, st, in.Policy)
	}
	return st
}

// nextGossip returns the round's gossip view, keeping the time a server
// entered its state from prev while the state is unchanged, and adding every
// configured server gossip does not know as failed.
func nextGossip(prev *groupState, in stateInput) map[string]gossipServer {
	out := make(map[string]gossipServer, len(in.Gossip))
	for id, g := range in.Gossip {
		out[id] = g
	}
	for _, s := range in.Raft {
		if _, ok := out[s.ID]; !ok && s.ID != in.Self {
			out[s.ID] = gossipServer{ID: s.ID, State: gossipFailed, Member: membership.StatusNone}
		}
	}
	for id, g := range out {
		g.Since, g.FirstSeen = in.Time, true
		if prev != nil {
			if p, ok := prev.Gossip[id]; ok {
				g = nextPresence(p, g, in.Time)
			}
		}
		out[id] = g
	}
	return out
}

// nextPresence carries a server's gossip history from its previous entry p
// to its current one g: the time it entered its state, when it last came
// back alive, and how long it had stayed alive before it went away.
func nextPresence(p, g gossipServer, now time.Time) gossipServer {
	g.Returned, g.LastStay, g.StayPartial = p.Returned, p.LastStay, p.StayPartial
	if p.State == g.State {
		g.Since, g.FirstSeen = p.Since, p.FirstSeen
		return g
	}
	g.FirstSeen = false
	switch {
	case g.State == gossipAlive:
		g.Returned = now
	case p.State == gossipAlive:
		g.LastStay, g.StayPartial = now.Sub(p.Since), p.FirstSeen
	}
	return g
}

func nextServer(old serverState, readings map[string]statusReading, id string, st *groupState, p healthPolicy) serverState {
	cur := serverState{Status: old.Status, ReadAt: old.ReadAt, Progress: old.Progress, Rejections: old.Rejections}
	r, asked := readings[id]
	if asked {
		cur.Rejections = r.Rejections
	}
	switch {
	case !asked:
		cur.Err = errNotAsked
	case r.Err != nil:
		cur.Err = r.Err.Error()
	default:
		cur.Known, cur.Status, cur.ReadAt = true, r.Status, r.At
		applied := r.Status.AppliedIndex
		if old.ReadAt.IsZero() || applied != old.Status.AppliedIndex || applied >= st.CommitIndex {
			cur.Progress = r.At
		}
	}
	cur.Healthy, cur.Reason = serverHealthy(st.alive(id), cur, st.CommitIndex, st.Time, p)
	if cur.Healthy {
		cur.HealthySince = old.HealthySince
		if !old.Healthy || old.HealthySince.IsZero() {
			cur.HealthySince = st.Time
		}
	} else {
		cur.UnhealthySince = old.UnhealthySince
		if old.Healthy || old.UnhealthySince.IsZero() {
			cur.UnhealthySince = st.Time
		}
	}
	return cur
}

// stuckPrefix starts the reason of a stuck server.
const stuckPrefix = "stuck: "

// serverHealthy is the one definition of a healthy server, used by the
// reconciler to promote and by Health to report: gossip says it is alive, it
// answered this round's status request, its storage takes writes, it heard from a leader within
// LastContactThreshold, it is not stuck (behind the group's commit index
// without applying anything for ProgressTimeout, as of now), and it has
// applied to within MaxTrailingLogs of the group's commit index. When it is
// not healthy, reason says why and what to do.
func serverHealthy(alive bool, s serverState, commit uint64, now time.Time, p healthPolicy) (healthy bool, reason string) {
	switch {
	case !alive:
		return false, "not alive in gossip"
	case !s.Known:
		return false, "did not answer the status request: " + s.Err
	case s.Status.StorageError != "":
		return false, "storage: " + s.Status.StorageError
	}
	lc, applied := s.Status.LastContact, s.Status.AppliedIndex
	switch {
	case lc < 0:
		return false, "has not heard from a leader"
	case lc > p.LastContactThreshold:
		return false, fmt.Sprintf("last heard from the leader %v ago (threshold %v)", lc.Round(time.Millisecond), p.LastContactThreshold)
	case applied < commit && !s.Progress.IsZero() && now.Sub(s.Progress) > p.ProgressTimeout:
		return false, stuckReason(s, commit, now, p)
	case applied+p.MaxTrailingLogs < commit:
		return false, fmt.Sprintf("applied index %d trails the commit index %d by more than %d", applied, commit, p.MaxTrailingLogs)
	}
	return true, ""
}

// stuckReason says why a stuck server may be stuck and what to do. When it
// kept refusing the leader's entries while stuck, its log no longer matches
// the leader's: that is named, with the one repair.
func stuckReason(s serverState, commit uint64, now time.Time, p healthPolicy) string {
	applied, still := s.Status.AppliedIndex, now.Sub(s.Progress).Round(time.Second)
	if rj := s.Rejections; rj.Count > 0 && now.Sub(rj.Last) <= p.ProgressTimeout {
		return fmt.Sprintf(stuckPrefix+"applied index %d has not moved for %v while the commit index is %d, and it keeps refusing "+
			"the leader's entries (%d refusals, the latest %v ago; the leader now sends from index %d): its log no longer "+
			"matches the leader's; restore it from its peers: stop it, move its DataDir aside, start it with StartFresh",
			applied, still, commit, rj.Count, now.Sub(rj.Last).Round(time.Second), rj.Next)
	}
	return fmt.Sprintf(stuckPrefix+"applied index %d has not moved for %v while the commit index is %d; "+
		"it hears from the leader but applies nothing: its state machine is blocked, its disk cannot be written, "+
		"or its log no longer matches the leader's (the leader keeps sending older entries); check its logs, "+
		"and if its log was lost or damaged restore it from its peers (move its DataDir aside, start it with StartFresh)",
		applied, still, commit)
}

// alive reports whether gossip says the server is alive (and not leaving).
func (st *groupState) alive(id string) bool {
	g, ok := st.Gossip[id]
	return ok && g.State == gossipAlive
}

// voter reports whether the server holds a voter seat.
func (st *groupState) voter(id string) bool {
	for _, s := range st.Raft {
		if s.ID == id {
			return s.Voter
		}
	}
	return false
}

// fresh reports whether the server answered this round that it holds no
// Raft state at all.
func (st *groupState) fresh(id string) bool {
	s, ok := st.Server[id]
	return ok && s.Known && !s.Status.HasState
}

// leading reports whether Self was the leader when the round read its own
// status.
func (st *groupState) leading() bool {
	s, ok := st.Server[st.Self]
	return ok && s.Known && s.Status.State == consensus.StateLeader
}

// health summarises the state for Health, as seen at now by a server whose
// reconciler follows p.
func (st *groupState) health(now time.Time, p reconcilePolicy) Health {
	in := reconcileInput{groupState: st, Policy: p}
	h := Health{
		Leader:         st.Leader,
		Age:            now.Sub(st.Time),
		CommitIndex:    st.CommitIndex,
		BootstrapError: st.BootstrapError,
	}
	for _, s := range st.Raft {
		sh := st.serverHealth(s, now)
		sh.NotVoterReason = in.notVoterReason(s)
		if s.Voter {
			h.Voters++
			if sh.Healthy {
				h.HealthyVoters++
			}
		}
		h.Servers = append(h.Servers, sh)
	}
	h.FailureTolerance = max(0, h.HealthyVoters-quorum(h.Voters))
	return h
}

func (st *groupState) serverHealth(s raftServer, now time.Time) ServerHealth {
	ss := st.Server[s.ID]
	sh := ServerHealth{
		Name:         s.ID,
		Addr:         s.Addr,
		Suffrage:     consensus.NonVoter,
		Gossip:       st.Gossip[s.ID].Member,
		Known:        ss.Known,
		State:        ss.Status.State,
		LastContact:  ss.Status.LastContact,
		AppliedIndex: ss.Status.AppliedIndex,
		CommitIndex:  ss.Status.CommitIndex,
		ReadAge:      -1,
		Healthy:      ss.Healthy,
		Reason:       ss.Reason,
		HealthySince: ss.HealthySince,
		Error:        ss.Err,
	}
	if s.Voter {
		sh.Suffrage = consensus.Voter
	}
	if !ss.ReadAt.IsZero() {
		sh.ReadAge = now.Sub(ss.ReadAt)
		if st.CommitIndex > ss.Status.AppliedIndex {
			sh.Lag = st.CommitIndex - ss.Status.AppliedIndex
		}
	}
	if ss.ReadAt.IsZero() {
		sh.LastContact = -1 // never heard of: not "just now"
	}
	return sh
}
