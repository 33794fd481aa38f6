package cluster

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/membership"
)

var testHealthPolicy = healthPolicy{LastContactThreshold: time.Second, MaxTrailingLogs: 10, ProgressTimeout: 5 * time.Second}

// answered is a reading of a server in contact with the leader, applied up to
// applied, of a group committed up to 100.
func answered(applied uint64, at time.Time) statusReading {
	return statusReading{At: at, Status: consensus.Status{
		State: consensus.StateFollower, LastContact: 100 * time.Millisecond,
		CommitIndex: 100, AppliedIndex: applied, HasState: true,
	}}
}

func leaderReading(at time.Time) statusReading {
	return statusReading{At: at, Status: consensus.Status{
		State: consensus.StateLeader, CommitIndex: 100, AppliedIndex: 100, HasState: true,
	}}
}

func unreachable(at time.Time) statusReading {
	return statusReading{At: at, Err: errors.New("connection refused")}
}

func aliveMember(id string) gossipServer {
	g := alive(id)
	g.Since, g.Member = time.Time{}, membership.StatusAlive
	return g
}

func TestBuildState(t *testing.T) {
	t1 := t0.Add(time.Second)
	prev := buildState(nil, stateInput{
		Time: t0, Self: "a", Policy: testHealthPolicy,
		Gossip: gossipOf(aliveMember("a"), aliveMember("b"), aliveMember("c")),
		Raft:   []raftServer{voter("a"), voter("b"), voter("c"), voter("d")},
		Readings: map[string]statusReading{
			"a": leaderReading(t0), "b": answered(100, t0), "c": answered(100, t0), "d": unreachable(t0),
		},
	})
	require.True(t, prev.Server["b"].Healthy)
	require.Equal(t, t0, prev.Server["b"].HealthySince)
	require.Equal(t, gossipFailed, prev.Gossip["d"].State, "a configured server gossip does not know counts as failed")

	cur := buildState(prev, stateInput{
		Time: t1, Self: "a", Policy: testHealthPolicy,
		Gossip: gossipOf(aliveMember("a"), aliveMember("b"), aliveMember("c")),
		Raft:   []raftServer{voter("a"), voter("b"), voter("c"), voter("d")},
		Readings: map[string]statusReading{
			"a": leaderReading(t1), "b": unreachable(t1), "c": answered(100, t1),
		},
	})

	b := cur.Server["b"]
	require.False(t, b.Known, "b did not answer this round")
	require.Equal(t, "connection refused", b.Err)
	require.Equal(t, t0, b.ReadAt, "the last successful reading is kept, with its time")
	require.Equal(t, uint64(100), b.Status.AppliedIndex)
	require.False(t, b.Healthy)
	require.True(t, b.HealthySince.IsZero())
	require.Equal(t, t1, b.UnhealthySince)
	require.True(t, cur.Server["c"].UnhealthySince.IsZero())

	require.Equal(t, t0, cur.Server["c"].HealthySince, "an unbroken streak keeps its start")
	require.Equal(t, errNotAsked, cur.Server["d"].Err)
	require.True(t, cur.Server["d"].ReadAt.IsZero(), "d never answered")
	require.Equal(t, t0, cur.Gossip["d"].Since, "d has been missing since it was first noticed")
	require.Equal(t, uint64(100), cur.CommitIndex)
	require.True(t, cur.leading())
}

func TestServerHealthy(t *testing.T) {
	now := t0.Add(time.Minute)
	ok := serverState{Known: true, Progress: now, Status: consensus.Status{LastContact: 100 * time.Millisecond, AppliedIndex: 95}}
	tests := []struct {
		name   string
		alive  bool
		s      func(*serverState)
		want   bool
		reason string
	}{
		{name: "alive, in contact, caught up", alive: true, want: true},
		{name: "not alive in gossip", alive: false, reason: "not alive in gossip"},
		{name: "did not answer this round", alive: true, s: func(s *serverState) { s.Known, s.Err = false, "refused" }, reason: "did not answer the status request: refused"},
		{name: "never heard from a leader", alive: true, s: func(s *serverState) { s.Status.LastContact = -1 }, reason: "has not heard from a leader"},
		{name: "leader silent too long", alive: true, s: func(s *serverState) { s.Status.LastContact = 2 * time.Second }, reason: "last heard from the leader 2s ago"},
		{name: "exactly at the trailing limit", alive: true, s: func(s *serverState) { s.Status.AppliedIndex = 90 }, want: true},
		{name: "beyond the trailing limit", alive: true, s: func(s *serverState) { s.Status.AppliedIndex = 89 }, reason: "trails the commit index 100 by more than 10"},
		{name: "behind, applying lately", alive: true, s: func(s *serverState) { s.Progress = now.Add(-5 * time.Second) }, want: true},
		{name: "behind, stuck", alive: true, s: func(s *serverState) { s.Progress = now.Add(-6 * time.Second) }, reason: "stuck: applied index 95 has not moved for 6s"},
		{name: "stuck with nothing applied", alive: true, s: func(s *serverState) { s.Status.AppliedIndex, s.Progress = 0, t0 }, reason: "stuck: applied index 0"},
		{name: "stuck, refusing the leader's entries", alive: true, s: func(s *serverState) {
			s.Progress = now.Add(-6 * time.Second)
			s.Rejections = consensus.LogRejections{Count: 12, Next: 1, Last: now.Add(-2 * time.Second)}
		}, reason: "keeps refusing the leader's entries (12 refusals, the latest 2s ago; the leader now sends from index 1)"},
		{name: "stuck, refusals long past", alive: true, s: func(s *serverState) {
			s.Progress = now.Add(-6 * time.Second)
			s.Rejections = consensus.LogRejections{Count: 12, Next: 1, Last: now.Add(-time.Minute)}
		}, reason: "its state machine is blocked"},
		{name: "refusing while catching up is fine", alive: true, s: func(s *serverState) {
			s.Rejections = consensus.LogRejections{Count: 3, Next: 90, Last: now}
		}, want: true},
		{name: "disk full, otherwise fine", alive: true, s: func(s *serverState) { s.Status.StorageError = "disk full: writes to the Raft log fail" }, reason: "storage: disk full"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			if tt.s != nil {
				tt.s(&s)
			}
			got, reason := serverHealthy(tt.alive, s, 100, now, testHealthPolicy)
			require.Equal(t, tt.want, got)
			if tt.want {
				require.Empty(t, reason)
			} else {
				require.Contains(t, reason, tt.reason)
			}
		})
	}
}

// A server behind the commit index whose applied index stops moving turns
// unhealthy after ProgressTimeout, with a reason, and leaves the failure
// tolerance; once it applies again it is healthy again.
func TestStuckServerLeavesFailureTolerance(t *testing.T) {
	in := func(at time.Time, bApplied, commit uint64) stateInput {
		lead := leaderReading(at)
		lead.Status.CommitIndex, lead.Status.AppliedIndex = commit, commit
		b, c := answered(bApplied, at), answered(commit, at)
		b.Status.CommitIndex, c.Status.CommitIndex = commit, commit
		return stateInput{
			Time: at, Self: "a", Policy: testHealthPolicy,
			Gossip:   gossipOf(aliveMember("a"), aliveMember("b"), aliveMember("c")),
			Raft:     []raftServer{voter("a"), voter("b"), voter("c")},
			Readings: map[string]statusReading{"a": lead, "b": b, "c": c},
		}
	}
	st := buildState(nil, in(t0, 40, 40))
	require.Equal(t, 1, st.health(t0, policy()).FailureTolerance)
	for i := 1; i <= 6; i++ { // the group commits on; b stays at 40
		at := t0.Add(time.Duration(i) * time.Second)
		st = buildState(st, in(at, 40, 40+uint64(i)))
	}
	h := st.health(st.Time, policy())
	b := serverIn(t, h, "b")
	require.False(t, b.Healthy)
	require.Contains(t, b.Reason, "stuck: applied index 40 has not moved for 6s while the commit index is 46")
	require.Equal(t, 2, h.HealthyVoters)
	require.Zero(t, h.FailureTolerance, "a stuck voter is no tolerance")

	st = buildState(st, in(st.Time.Add(time.Second), 45, 47))
	require.True(t, st.Server["b"].Healthy, "applying again")
	require.Empty(t, st.Server["b"].Reason)
}

func TestHealthReportsUnknownServers(t *testing.T) {
	prev := buildState(nil, stateInput{
		Time: t0, Self: "a", Policy: testHealthPolicy,
		Gossip: gossipOf(aliveMember("a"), aliveMember("b"), aliveMember("c")),
		Raft:   []raftServer{voter("a"), voter("b"), voter("c")},
		Readings: map[string]statusReading{
			"a": leaderReading(t0), "b": answered(97, t0), "c": unreachable(t0),
		},
	})
	st := buildState(prev, stateInput{
		Time: t0.Add(time.Second), Self: "a", Policy: testHealthPolicy,
		Gossip: gossipOf(aliveMember("a"), aliveMember("b"), aliveMember("c")),
		Raft:   []raftServer{voter("c"), voter("b"), voter("a")},
		Readings: map[string]statusReading{
			"a": leaderReading(t0.Add(time.Second)), "b": unreachable(t0.Add(time.Second)), "c": unreachable(t0.Add(time.Second)),
		},
	})
	h := st.health(t0.Add(3*time.Second), policy())
	require.Equal(t, 2*time.Second, h.Age)
	require.Equal(t, 3, h.Voters)
	require.Equal(t, 1, h.HealthyVoters)
	require.Equal(t, 0, h.FailureTolerance)
	require.Equal(t, []string{"a", "b", "c"}, []string{h.Servers[0].Name, h.Servers[1].Name, h.Servers[2].Name})

	a, b, c := h.Servers[0], h.Servers[1], h.Servers[2]
	require.True(t, a.Known)
	require.True(t, a.Healthy)
	require.Equal(t, 2*time.Second, a.ReadAge)

	require.False(t, b.Known, "b is unknown, not a follower in contact")
	require.Equal(t, "connection refused", b.Error)
	require.Equal(t, 3*time.Second, b.ReadAge, "age of its last successful reading")
	require.Equal(t, consensus.StateFollower, b.State, "as last read")
	require.Equal(t, uint64(97), b.AppliedIndex)
	require.Equal(t, uint64(3), b.Lag)
	require.False(t, b.Healthy)

	require.False(t, c.Known)
	require.Equal(t, "connection refused", c.Error)
	require.Negative(t, c.ReadAge, "never read")
	require.Negative(t, c.LastContact, "never read: no contact to report")
	require.False(t, c.Healthy)
}

// TestHealthAndPlanAgree drives rounds of group states through buildState and
// checks, on each state, that planReconcile promotes only servers Health
// calls healthy, and that the servers it promotes have been healthy in Health
// for the stabilization time.
func TestHealthAndPlanAgree(t *testing.T) {
	p := policy()
	leaving := aliveMember("f")
	leaving.State = gossipLeft // alive in gossip, but tagged as leaving
	gossip := gossipOf(aliveMember("a"), aliveMember("b"), aliveMember("c"),
		aliveMember("d"), aliveMember("e"), leaving, aliveMember("g"))
	raftCfg := []raftServer{voter("a"), voter("b"), voter("c"),
		nonvoter("d"), nonvoter("e"), nonvoter("f"), nonvoter("g")}

	var st *groupState
	promoted := map[string]bool{}
	for round := range 4 {
		now := t0.Add(time.Duration(round) * 5 * time.Second)
		st = buildState(st, stateInput{
			Time: now, Self: "a", Policy: testHealthPolicy, Gossip: gossip, Raft: raftCfg,
			Readings: map[string]statusReading{
				"a": leaderReading(now), "b": answered(100, now), "c": answered(100, now),
				"d": answered(99+uint64(round%2), now), // within the trailing limit, applying: healthy
				"e": unreachable(now),                  // alive in gossip, not answering
				"f": answered(100, now),                // answers, but leaving
				"g": answered(50, now),                 // answers, but far behind
			},
		})
		h := st.health(now, policy())
		byID := map[string]ServerHealth{}
		for _, s := range h.Servers {
			byID[s.Name] = s
		}
		for _, c := range planReconcile(st, p) {
			if c.Op != opPromote {
				continue
			}
			promoted[c.ID] = true
			s := byID[c.ID]
			require.True(t, s.Healthy, "round %d: promoted %s, which Health calls unhealthy", round, c.ID)
			require.GreaterOrEqual(t, now.Sub(s.HealthySince), p.Stabilization, "round %d: %s", round, c.ID)
		}
		for _, id := range []string{"e", "f", "g"} {
			require.False(t, byID[id].Healthy, "round %d: %s", round, id)
		}
	}
	require.Equal(t, map[string]bool{"d": true}, promoted, "the healthy non-voter is promoted once stable")
}
