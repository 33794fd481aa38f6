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
// an absence this state's history saw, and does not flap. A server that
// flaps, or that this history never saw away, waits out the stabilization
// time.
func (in reconcileInput) returning(id string) bool {
	g, ok := in.Gossip[id]
	return ok && g.State == gossipAlive && g.HasData && !g.Returned.IsZero() && !in.flapping(id)
}

// flapping reports whether the server came back on its own data after a
// stay shorter than the stabilization time. A stay the history saw only
// part of (it began before this server's history did) is no evidence of
// flapping: the server gets the benefit of the doubt once.
func (in reconcileInput) flapping(id string) bool {
	g, ok := in.Gossip[id]
	return ok && g.HasData && !g.Returned.IsZero() && !g.StayPartial && g.LastStay < in.Policy.Stabilization
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

// awaitingReturn reports whether a server other than Self is on its way back
// to full strength and not there yet: a voter that is up (alive in gossip, or
// answering its status request) but unhealthy for less than the
// stabilization time or still catching up, or a non-voter back on its own
// data (and not flapping) less than the stabilization time ago or still
// catching up, added to the configuration or not, that is not yet
// promotable. The leader then looks again soon rather than a
// ReconcileInterval later, so that Health and promotion follow the server
// closely, and a voter about to go away waits for it.
//
// A server restarted on its data dir replays its log before it can catch
// up, which may take longer than the stabilization time; its unhealthy
// streak began when it went down. Counting only the streak would stop the
// wait while it is still applying, and leave Health with its last reading
// from before it caught up for a ReconcileInterval.
func (in reconcileInput) awaitingReturn() bool {
	voters := make(map[string]bool, len(in.Raft))
	for _, s := range in.Raft {
		voters[s.ID] = s.Voter
	}
	for _, id := range sortedIDs(in.Gossip) {
		g, s := in.Gossip[id], in.Server[id]
		switch {
		case id == in.Self:
		case voters[id]:
			// Up (alive in gossip, or answering even while gossip still
			// settles on its new incarnation) but not healthy yet.
			up := g.State == gossipAlive || s.Known
			recent := in.Time.Sub(s.UnhealthySince) < in.Policy.Stabilization
			if up && !s.Healthy && (recent || in.catchingUp(id)) {
				return true
			}
		case g.State != gossipAlive:
		case in.returning(id) && (in.Time.Sub(g.Returned) < in.Policy.Stabilization || in.catchingUp(id)) && in.promotable(id) == "":
			return true
		}
	}
	return false
}

// catchingUp reports whether the server answered this round behind the
// group's commit index and has applied entries within the stabilization
// time: it is on its way, not stuck and not cut off from the leader.
func (in reconcileInput) catchingUp(id string) bool {
	s := in.Server[id]
	return s.Known && s.Status.AppliedIndex < in.CommitIndex && !s.Progress.IsZero() &&
		in.Time.Sub(s.Progress) < in.Policy.Stabilization
}
