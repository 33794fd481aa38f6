package cluster

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/consensus"
)

// back returns gossip for a server that came back alive at returned after
// staying up for stay before it went away.
func back(id string, returned time.Time, stay time.Duration) gossipServer {
	g := alive(id)
	g.HasData, g.Returned, g.LastStay, g.Since = true, returned, stay, returned
	return g
}

// healthyAt returns the state of a server healthy since since.
func healthyAt(since time.Time) serverState {
	return serverState{Known: true, Status: consensus.Status{HasState: true}, Healthy: true, HealthySince: since}
}

func TestPromotionRules(t *testing.T) {
	now := t0.Add(time.Hour)
	stab := policy().Stabilization
	tests := []struct {
		name    string
		gossip  gossipServer
		server  serverState
		promote bool
		reason  string
	}{
		{"stable for the stabilization time", alive("d"), healthyAt(now.Add(-stab)), true, waitPending},
		{"new server waits", alive("d"), healthyAt(now), false, waitStabilize},
		{"returning on its own data and caught up", back("d", now, stab), healthyAt(now), true, waitPending},
		{"returning but not caught up", back("d", now, stab), serverState{Known: true}, false, waitCatchingUp},
		{"flapping: stayed less than the stabilization time", back("d", now, stab-time.Second), healthyAt(now), false, waitFlapping},
		{"short previous stay seen only in part: benefit of the doubt",
			func() gossipServer { g := back("d", now, time.Second); g.StayPartial = true; return g }(),
			healthyAt(now), true, waitPending},
		{"returning without data of its own", func() gossipServer { g := back("d", now, stab); g.HasData = false; return g }(),
			healthyAt(now), false, waitStabilize},
		{"not seen coming back", func() gossipServer { g := alive("d"); g.HasData = true; return g }(),
			healthyAt(now), false, waitStabilize},
		{"not alive", failed("d", now), healthyAt(now.Add(-stab)), false, waitNotAlive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &groupState{
				Time: now, Self: "a",
				Gossip: gossipOf(alive("a"), alive("b"), alive("c"), tt.gossip),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c"), nonvoter("d")},
				Server: map[string]serverState{"d": tt.server},
			}
			var want []string
			if tt.promote {
				want = []string{"promote d"}
			}
			require.Equal(t, want, nilIfEmpty(ops(planReconcile(st, policy()))))
			in := reconcileInput{groupState: st, Policy: policy()}
			require.Equal(t, tt.reason, in.notVoterReason(nonvoter("d")))
		})
	}
}

func TestNotVoterReasonSeatsFull(t *testing.T) {
	p := policy()
	p.MaxVoters = 3
	st := &groupState{
		Time: t0.Add(time.Hour), Self: "a",
		Gossip: gossipOf(alive("a"), alive("b"), alive("c"), alive("d")),
		Raft:   []raftServer{voter("a"), voter("b"), voter("c"), nonvoter("d")},
		Server: healthy("a", "b", "c", "d"),
	}
	in := reconcileInput{groupState: st, Policy: p}
	require.Equal(t, waitSeatsFull, in.notVoterReason(nonvoter("d")))
	require.Empty(t, in.notVoterReason(voter("a")))
	require.Empty(t, planReconcile(st, p))
}

func TestPlanHandover(t *testing.T) {
	now := t0.Add(time.Hour)
	tests := []struct {
		name   string
		gossip []gossipServer
		raft   []raftServer
		server map[string]serverState
		want   string // the promoted server, "" for none
	}{
		{
			name:   "a stable non-voter takes the leaving voter's seat",
			gossip: []gossipServer{alive("a"), alive("b"), alive("c"), alive("d")},
			raft:   []raftServer{voter("a"), voter("b"), voter("c"), nonvoter("d")},
			server: healthy("b", "c", "d"),
			want:   "d",
		},
		{
			name:   "a returning non-voter takes it at once",
			gossip: []gossipServer{alive("a"), alive("b"), alive("c"), back("d", now, time.Hour)},
			raft:   []raftServer{voter("a"), voter("b"), voter("c"), nonvoter("d")},
			server: map[string]serverState{"d": healthyAt(now)},
			want:   "d",
		},
		{
			name:   "no caught-up non-voter: nothing to hand over",
			gossip: []gossipServer{alive("a"), alive("b"), alive("c"), alive("d")},
			raft:   []raftServer{voter("a"), voter("b"), voter("c"), nonvoter("d")},
			server: map[string]serverState{"d": {Known: true}},
		},
		{
			name:   "a dead non-voter is not a candidate",
			gossip: []gossipServer{alive("a"), alive("b"), alive("c"), failed("d", now)},
			raft:   []raftServer{voter("a"), voter("b"), voter("c"), nonvoter("d")},
			server: healthy("d"),
		},
		{
			name:   "the seats left already reach MaxVoters",
			gossip: []gossipServer{alive("a"), alive("b"), alive("c"), alive("d"), alive("e"), alive("f"), alive("g")},
			raft: []raftServer{voter("a"), voter("b"), voter("c"), voter("d"), voter("e"), voter("f"),
				nonvoter("g")},
			server: healthy("g"),
		},
		{
			name:   "a non-voter leaving has no seat to hand over",
			gossip: []gossipServer{alive("a"), alive("b"), alive("c"), alive("d")},
			raft:   []raftServer{nonvoter("a"), voter("b"), voter("c"), nonvoter("d")},
			server: healthy("d"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &groupState{Time: now, Self: "a", Gossip: gossipOf(tt.gossip...), Raft: tt.raft, Server: tt.server}
			c, ok := planHandover(st, policy())
			require.Equal(t, tt.want != "", ok)
			if ok {
				require.Equal(t, opPromote, c.Op)
				require.Equal(t, tt.want, c.ID)
			}
		})
	}
}

func TestGossipHistory(t *testing.T) {
	round := func(prev *groupState, at time.Time, d gossipServer) *groupState {
		return buildState(prev, stateInput{
			Time: at, Self: "a", Policy: testHealthPolicy,
			Gossip:   gossipOf(aliveMember("a"), d),
			Raft:     []raftServer{voter("a")},
			Readings: map[string]statusReading{"a": leaderReading(at)},
		})
	}
	up, gone := aliveMember("d"), left("d")
	up.HasData = true
	st := round(nil, t0, up)
	require.True(t, st.Gossip["d"].Returned.IsZero(), "first seen: not a return")
	st = round(st, t0.Add(30*time.Second), up)
	st = round(st, t0.Add(40*time.Second), gone)
	require.Equal(t, 40*time.Second, st.Gossip["d"].LastStay)
	require.True(t, st.Gossip["d"].StayPartial, "the stay began before the history did")
	st = round(st, t0.Add(45*time.Second), up)
	d := st.Gossip["d"]
	require.Equal(t, t0.Add(45*time.Second), d.Returned)
	require.Equal(t, 40*time.Second, d.LastStay)
	require.Equal(t, t0.Add(45*time.Second), d.Since)
	st = round(st, t0.Add(46*time.Second), gone)
	st = round(st, t0.Add(47*time.Second), up)
	d = st.Gossip["d"]
	require.Equal(t, time.Second, d.LastStay, "a short stay is remembered: the server flaps")
	require.False(t, d.StayPartial)
	in := reconcileInput{groupState: st, Policy: policy()}
	require.True(t, in.flapping("d"))
	require.False(t, in.returning("d"))
}

// A leader change is not a reason to start a server's healthy streak again:
// every server builds its state every round, the new leader included, and
// the streak survives the change as long as the server stays in contact.
func TestHealthySinceSurvivesLeaderChange(t *testing.T) {
	gossip := gossipOf(aliveMember("a"), aliveMember("b"), aliveMember("c"))
	raftCfg := []raftServer{voter("a"), voter("b"), nonvoter("c")}
	// Built on b: a leads, then b does.
	st := buildState(nil, stateInput{
		Time: t0, Self: "b", Policy: testHealthPolicy, Gossip: gossip, Raft: raftCfg,
		Leader:   consensus.LeaderInfo{Name: "a", Term: 1},
		Readings: map[string]statusReading{"a": leaderReading(t0), "b": answered(100, t0), "c": answered(100, t0)},
	})
	t1 := t0.Add(5 * time.Second)
	st = buildState(st, stateInput{
		Time: t1, Self: "b", Policy: testHealthPolicy, Gossip: gossip, Raft: raftCfg,
		Leader:   consensus.LeaderInfo{Name: "b", Term: 2},
		Readings: map[string]statusReading{"a": answered(100, t1), "b": leaderReading(t1), "c": answered(100, t1)},
	})
	require.True(t, st.leading())
	require.Equal(t, t0, st.Server["c"].HealthySince)
	p := policy()
	p.Stabilization = 5 * time.Second
	require.Equal(t, []string{"promote c"}, ops(planReconcile(st, p)))
}

func TestAwaitingReturn(t *testing.T) {
	now := t0.Add(time.Hour)
	stab := policy().Stabilization
	tests := []struct {
		name   string
		gossip gossipServer
		server serverState
		want   bool
	}{
		{"returned, still catching up", back("d", now.Add(-time.Second), stab), serverState{Known: true}, true},
		{"returned and promotable", back("d", now, stab), healthyAt(now), false},
		{"returned long ago: the stabilization path applies", back("d", now.Add(-stab), stab), serverState{Known: true}, false},
		{"flapping", back("d", now, time.Second), serverState{Known: true}, false},
		{"new server", alive("d"), serverState{Known: true}, false},
	}
	t.Run("a voter back, not healthy yet", func(t *testing.T) {
		st := &groupState{Time: now, Self: "a", Gossip: gossipOf(alive("a"), alive("d")),
			Raft: []raftServer{voter("a"), voter("d")}, Server: map[string]serverState{"d": {Known: true, UnhealthySince: now.Add(-time.Second)}}}
		in := reconcileInput{groupState: st, Policy: policy()}
		require.True(t, in.awaitingReturn())
		st.Server = map[string]serverState{"d": {Known: true, UnhealthySince: now.Add(-stab)}}
		require.False(t, in.awaitingReturn(), "unhealthy for the stabilization time: back to the normal pace")
		st.Server = map[string]serverState{"d": healthyAt(now)}
		require.False(t, in.awaitingReturn())
		st.Gossip["d"] = failed("d", now)
		st.Server = map[string]serverState{"d": {Known: true, UnhealthySince: now.Add(-time.Second)}}
		require.True(t, in.awaitingReturn(), "answering while gossip still settles")
		st.Server = map[string]serverState{"d": {UnhealthySince: now.Add(-time.Second)}}
		require.False(t, in.awaitingReturn(), "down")
	})
	t.Run("a voter back, replaying its log for longer than the stabilization time", func(t *testing.T) {
		replaying := func(applied uint64, progress time.Time) serverState {
			return serverState{Known: true, UnhealthySince: now.Add(-2 * stab), Progress: progress,
				Status: consensus.Status{AppliedIndex: applied, HasState: true}}
		}
		st := &groupState{Time: now, Self: "a", CommitIndex: 5000, Gossip: gossipOf(alive("a"), alive("d")),
			Raft: []raftServer{voter("a"), voter("d")}, Server: map[string]serverState{"d": replaying(3000, now)}}
		in := reconcileInput{groupState: st, Policy: policy()}
		require.True(t, in.awaitingReturn(), "still applying: a voter about to go away waits for it")
		st.Server = map[string]serverState{"d": replaying(3000, now.Add(-stab))}
		require.False(t, in.awaitingReturn(), "applied nothing for the stabilization time: not on its way")
		st.Server = map[string]serverState{"d": replaying(5000, now)}
		require.False(t, in.awaitingReturn(), "at the commit index but unhealthy for another reason, for long")
		d := replaying(3000, now)
		d.Known = false
		st.Server = map[string]serverState{"d": d}
		require.False(t, in.awaitingReturn(), "did not answer this round")
	})
	t.Run("a non-voter back on its data, replaying for longer than the stabilization time", func(t *testing.T) {
		st := &groupState{Time: now, Self: "a", CommitIndex: 5000,
			Gossip: gossipOf(alive("a"), back("d", now.Add(-2*stab), stab)),
			Raft:   []raftServer{voter("a"), nonvoter("d")},
			Server: map[string]serverState{"d": {Known: true, Progress: now, Status: consensus.Status{AppliedIndex: 3000, HasState: true}}}}
		require.True(t, reconcileInput{groupState: st, Policy: policy()}.awaitingReturn())
	})
	t.Run("returned, not yet in the configuration", func(t *testing.T) {
		st := &groupState{Time: now, Self: "a", Gossip: gossipOf(alive("a"), back("d", now, stab)), Raft: []raftServer{voter("a")}}
		require.True(t, reconcileInput{groupState: st, Policy: policy()}.awaitingReturn())
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &groupState{
				Time: now, Self: "a",
				Gossip: gossipOf(alive("a"), tt.gossip),
				Raft:   []raftServer{voter("a"), nonvoter("d")},
				Server: map[string]serverState{"d": tt.server},
			}
			require.Equal(t, tt.want, reconcileInput{groupState: st, Policy: policy()}.awaitingReturn())
		})
	}
}
