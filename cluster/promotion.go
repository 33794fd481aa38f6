package cluster

import "fmt"

// This file holds the pure rules for giving a non-voter a voter seat: when
// the reconciler may promote it, why Health says it is not a voter yet, and
// which non-voter takes the seat of a voter that leaves gracefully.

// Reasons a non-voter is not a voter yet, as Health reports them.
const (
	waitNotAlive   = "not alive"
	waitCatchingUp = "catching up"
	waitStabilize  = "stabilizing"
	waitFlapping   = "stabilizing (flapping)"
	waitSeatsFull  = "above MaxVoters"
	waitPending    = "promotion pending"
)

// promotable says why the reconciler may promote the server to a voter, or
// "" when it may not. A server healthy by serverHealthy may be promoted once
// it has been healthy for the stabilization time, or at once when it is
// returning: the same server back on its own data, caught up, and not
// flapping.
func (in reconcileInput) promotable(id string) string {
	s, ok := in.Server[id]
	switch {
	case !ok || !s.Healthy:
		return ""
	case in.Time.Sub(s.HealthySince) >= in.Policy.Stabilization:
		return "caught up and stable"
	case in.returning(id):
		return "returned on its own data and caught up"
	}
	return ""
}

// returning reports whether the server came back on its own Raft data after
// an absence, having stayed up for at least the stabilization time before
// it went away. A server that stayed less (one that flaps), or whose
// previous stay this state did not see, waits out the stabilization time.
func (in reconcileInput) returning(id string) bool {
	g, ok := in.Gossip[id]
	return ok && g.State == gossipAlive && g.HasData && !g.Returned.IsZero() &&
		g.LastStay >= in.Policy.Stabilization
}

// flapping reports whether the server came back on its own data after a
// stay too short to count as stable.
func (in reconcileInput) flapping(id string) bool {
	g, ok := in.Gossip[id]
	return ok && g.HasData && !g.Returned.IsZero() && g.LastStay < in.Policy.Stabilization
}

// notVoterReason says why the configured server s is not a voter: "" for a
// voter, otherwise one of the wait* reasons.
func (in reconcileInput) notVoterReason(s raftServer) string {
	if s.Voter {
		return ""
	}
	if !in.alive(s.ID) {
		return waitNotAlive
	}
	if !in.Server[s.ID].Healthy {
		return waitCatchingUp
	}
	if in.promotable(s.ID) == "" {
		if in.flapping(s.ID) {
			return waitFlapping
		}
		return waitStabilize
	}
	if in.aliveVoters() >= in.Policy.MaxVoters {
		return waitSeatsFull
	}
	return waitPending
}

// aliveVoters counts the voters gossip says are alive.
func (in reconcileInput) aliveVoters() int {
	n := 0
	for _, s := range in.Raft {
		if s.Voter && in.alive(s.ID) {
			n++
		}
	}
	return n
}

// planHandover returns the promotion that gives the seat of Self, a voter
// about to leave gracefully, to a non-voter the reconciler may promote, and
// false when there is none or when the seats left after Self's departure
// already reach MaxVoters. Candidates are taken in ID order.
func planHandover(st *groupState, p reconcilePolicy) (change, bool) {
	in := reconcileInput{groupState: st, Policy: p}
	selfVoter, others := false, 0
	for _, s := range in.Raft {
		switch {
		case s.ID == in.Self:
			selfVoter = s.Voter
		case s.Voter && in.alive(s.ID):
			others++
		}
	}
	if !selfVoter || others >= p.MaxVoters {
		return change{}, false
	}
	for _, s := range sortedRaft(in.Raft) {
		if s.Voter || s.ID == in.Self || !in.alive(s.ID) || in.promotable(s.ID) == "" {
			continue
		}
		return change{Op: opPromote, ID: s.ID, Addr: s.Addr,
			Reason: fmt.Sprintf("takes the seat of %s, which is leaving", in.Self)}, true
	}
	return change{}, false
}

// awaitingReturn reports whether a non-voter came back on its own data (and
// does not flap) less than the stabilization time ago and is not yet
// promotable: the leader then
// looks again soon rather than a ReconcileInterval later.
func (in reconcileInput) awaitingReturn() bool {
	for _, s := range in.Raft {
		g, ok := in.Gossip[s.ID]
		if s.Voter || !ok || !in.returning(s.ID) {
			continue
		}
		if in.Time.Sub(g.Returned) < in.Policy.Stabilization && in.promotable(s.ID) == "" {
			return true
		}
	}
	return false
}
