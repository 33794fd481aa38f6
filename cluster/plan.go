package cluster

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/conclave-go/conclave/membership"
)

// This file holds the pure decision logic that turns what gossip says about
// the servers into Raft configuration changes. Nothing here does I/O or starts
// goroutines; the reconciler and the bootstrapper feed it the group state
// (state.go) or a gossip view and carry out what it returns.

// gossipState is what membership says about a server.
type gossipState int

const (
	gossipAlive  gossipState = iota // reachable
	gossipFailed                    // detected failed, or no longer known to gossip
	gossipLeft                      // left gracefully
)

func (s gossipState) String() string {
	switch s {
	case gossipAlive:
		return "alive"
	case gossipFailed:
		return "failed"
	case gossipLeft:
		return "left"
	default:
		return fmt.Sprintf("gossipState(%d)", int(s))
	}
}

// gossipServer is one server as membership sees it.
type gossipServer struct {
	ID       string
	RaftAddr string
	State    gossipState
	Since    time.Time         // when it entered State
	Expect   int               // its advertised BootstrapExpect (0: never bootstraps)
	Member   membership.Status // gossip's own status; StatusNone when gossip does not know it
	// HasData reports that the server advertises it started on Raft state
	// of its own: a restart on its data dir, not a new server.
	HasData bool
	// FirstSeen reports that Since is only when this group state's history
	// first saw the server, already in State: it entered State earlier.
	FirstSeen bool
	// Returned is when the server last came back alive after being away,
	// as this group state's history saw it (zero: not seen coming back).
	// LastStay is how long it had stayed alive before it went away that
	// time; StayPartial that the history saw only part of that stay. All are
	// filled in by buildState.
	Returned    time.Time
	LastStay    time.Duration
	StayPartial bool
}

// raftServer is one entry of the Raft configuration.
type raftServer struct {
	ID    string
	Addr  string
	Voter bool
}

// reconcilePolicy holds the knobs of the reconciler.
type reconcilePolicy struct {
	MaxVoters         int
	MinQuorum         int
	DeadServerTimeout time.Duration
	Stabilization     time.Duration
}

type changeOp int

const (
	opAddNonVoter changeOp = iota
	opPromote
	opDemote
	opRemove
	opUpdateAddr
)

func (o changeOp) String() string {
	return [...]string{"add-nonvoter", "promote", "demote", "remove", "update-address"}[o]
}

// change is one Raft configuration change the reconciler should make.
type change struct {
	Op     changeOp
	ID     string
	Addr   string
	Voter  bool // for opUpdateAddr: keep the server's suffrage
	Reason string
}

func (c change) String() string {
	return fmt.Sprintf("%s %s (%s)", c.Op, c.ID, c.Reason)
}

// reconcileInput is everything the plan depends on: one group state, the
// same value Health reads, and the reconciler's knobs.
type reconcileInput struct {
	*groupState
	Policy reconcilePolicy
}

// quorum is the number of votes a configuration of n voters needs.
func quorum(n int) int { return n/2 + 1 }

// planReconcile returns the changes that bring the Raft configuration of st
// in line with its gossip view, in the order they should be applied: address
// updates, additions, promotions, removals, then demotions. Promotions come
// before removals so that a leaving or dead voter's seat is filled before it
// is given up: the voter count never dips when a non-voter can take over.
func planReconcile(st *groupState, p reconcilePolicy) []change {
	in := reconcileInput{groupState: st, Policy: p}
	var out []change
	out = append(out, planAddressUpdates(in)...)
	removed := planRemovals(in)
	out = append(out, planAdditions(in)...)
	promote, demote := planSuffrage(in, removedSet(removed))
	out = append(out, promote...)
	out = append(out, removed...)
	out = append(out, demote...)
	return out
}

func removedSet(cs []change) map[string]bool {
	m := make(map[string]bool, len(cs))
	for _, c := range cs {
		m[c.ID] = true
	}
	return m
}

func planAddressUpdates(in reconcileInput) []change {
	var out []change
	for _, s := range in.Raft {
		g, ok := in.Gossip[s.ID]
		if !ok || g.State != gossipAlive || g.RaftAddr == "" || g.RaftAddr == s.Addr {
			continue
		}
		out = append(out, change{Op: opUpdateAddr, ID: s.ID, Addr: g.RaftAddr, Voter: s.Voter,
			Reason: fmt.Sprintf("address changed from %s", s.Addr)})
	}
	return out
}

func planAdditions(in reconcileInput) []change {
	inRaft := make(map[string]bool, len(in.Raft))
	for _, s := range in.Raft {
		inRaft[s.ID] = true
	}
	var out []change
	for _, id := range sortedIDs(in.Gossip) {
		g := in.Gossip[id]
		if g.State != gossipAlive || inRaft[id] || g.RaftAddr == "" {
			continue
		}
		out = append(out, change{Op: opAddNonVoter, ID: id, Addr: g.RaftAddr, Reason: "alive server not in configuration"})
	}
	return out
}

// planRemovals removes servers that left at once, and servers failed for
// longer than the dead-server timeout as long as the configuration keeps at
// least MinQuorum voters and the alive voters keep a quorum.
func planRemovals(in reconcileInput) []change {
	voters, aliveVoters := 0, 0
	for _, s := range in.Raft {
		if s.Voter {
			voters++
			if in.alive(s.ID) {
				aliveVoters++
			}
		}
	}
	if aliveVoters < quorum(voters) {
		// This leader cannot see a majority through gossip: do not shrink
		// the configuration on such a partial view.
		return nil
	}
	var out []change
	for _, s := range sortedRaft(in.Raft) {
		if s.ID == in.Self {
			continue
		}
		reason, ok := in.removable(s)
		if !ok {
			continue
		}
		if s.Voter {
			aliveAfter := aliveVoters
			if in.alive(s.ID) {
				aliveAfter--
			}
			if voters-1 < in.Policy.MinQuorum || aliveAfter < quorum(voters-1) {
				continue
			}
			voters, aliveVoters = voters-1, aliveAfter
		}
		out = append(out, change{Op: opRemove, ID: s.ID, Addr: s.Addr, Reason: reason})
	}
	return out
}

// removable reports whether s should leave the configuration, and why.
func (in reconcileInput) removable(s raftServer) (string, bool) {
	g, known := in.Gossip[s.ID]
	switch {
	case known && g.State == gossipLeft:
		return "left gracefully", true
	case known && g.State == gossipAlive && in.fresh(s.ID) && s.Voter:
		return "restarted without its Raft state", true
	case known && g.State == gossipAlive:
		return "", false
	case !known:
		return "unknown to gossip", false
	}
	dead := in.Time.Sub(g.Since)
	if dead < in.Policy.DeadServerTimeout {
		return "", false
	}
	return fmt.Sprintf("failed for %s", dead.Round(time.Millisecond)), true
}

// planSuffrage promotes alive non-voters that may be promoted (see
// promotable) while fewer than MaxVoters alive voters hold seats, and
// demotes alive voters above MaxVoters. Seats are counted by gossip liveness,
// so a voter that lags for a while does not cost it its seat.
func planSuffrage(in reconcileInput, removed map[string]bool) (promote, demote []change) {
	aliveVoters := 0
	var candidates, extras []raftServer
	for _, s := range sortedRaft(in.Raft) {
		if removed[s.ID] || !in.alive(s.ID) {
			continue
		}
		switch {
		case s.Voter:
			aliveVoters++
			if s.ID != in.Self {
				extras = append(extras, s)
			}
		case in.promotable(s.ID) != "":
			candidates = append(candidates, s)
		}
	}
	for _, s := range candidates {
		if aliveVoters >= in.Policy.MaxVoters {
			break
		}
		aliveVoters++
		promote = append(promote, change{Op: opPromote, ID: s.ID, Addr: s.Addr, Reason: in.promotable(s.ID)})
	}
	for i := len(extras) - 1; i >= 0 && aliveVoters > in.Policy.MaxVoters; i-- {
		aliveVoters--
		demote = append(demote, change{Op: opDemote, ID: extras[i].ID, Addr: extras[i].Addr,
			Reason: fmt.Sprintf("more than %d voters", in.Policy.MaxVoters)})
	}
	return promote, demote
}

// planBootstrap decides whether a fresh server should bootstrap the group.
// It returns the sorted configuration to bootstrap with once at least expect
// alive servers are known, nil while it should keep waiting, and an error when
// servers disagree about BootstrapExpect.
func planBootstrap(expect int, alive []gossipServer) ([]raftServer, error) {
	var mismatched []string
	for _, g := range alive {
		if g.Expect != 0 && g.Expect != expect {
			mismatched = append(mismatched, fmt.Sprintf("%s expects %d", g.ID, g.Expect))
		}
	}
	if len(mismatched) > 0 {
		sort.Strings(mismatched)
		return nil, fmt.Errorf("%w: this server expects %d, but %s",
			ErrBootstrapMismatch, expect, strings.Join(mismatched, ", "))
	}
	if len(alive) < expect {
		return nil, nil
	}
	out := make([]raftServer, 0, len(alive))
	for _, g := range alive {
		out = append(out, raftServer{ID: g.ID, Addr: g.RaftAddr, Voter: true})
	}
	return sortedRaft(out), nil
}

func sortedIDs(m map[string]gossipServer) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func sortedRaft(in []raftServer) []raftServer {
	out := append([]raftServer(nil), in...)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
