package cluster

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/consensus"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func policy() reconcilePolicy {
	return reconcilePolicy{MaxVoters: 5, MinQuorum: 3, DeadServerTimeout: time.Minute, Stabilization: 10 * time.Second}
}

func alive(id string) gossipServer {
	return gossipServer{ID: id, RaftAddr: id + ":1", State: gossipAlive, Since: t0}
}

func failed(id string, since time.Time) gossipServer {
	return gossipServer{ID: id, RaftAddr: id + ":1", State: gossipFailed, Since: since}
}

func left(id string) gossipServer {
	return gossipServer{ID: id, RaftAddr: id + ":1", State: gossipLeft, Since: t0}
}

func voter(id string) raftServer    { return raftServer{ID: id, Addr: id + ":1", Voter: true} }
func nonvoter(id string) raftServer { return raftServer{ID: id, Addr: id + ":1"} }

func gossipOf(gs ...gossipServer) map[string]gossipServer {
	m := make(map[string]gossipServer, len(gs))
	for _, g := range gs {
		m[g.ID] = g
	}
	return m
}

// healthy returns the server states of servers healthy since t0.
func healthy(ids ...string) map[string]serverState {
	m := make(map[string]serverState, len(ids))
	for _, id := range ids {
		m[id] = serverState{Known: true, Status: consensus.Status{HasState: true}, Healthy: true, HealthySince: t0}
	}
	return m
}

// fresh returns the server states of servers that answered without Raft state.
func fresh(ids ...string) map[string]serverState {
	m := make(map[string]serverState, len(ids))
	for _, id := range ids {
		m[id] = serverState{Known: true}
	}
	return m
}

func ops(cs []change) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.Op.String()+" "+c.ID)
	}
	return out
}

func TestPlanReconcile(t *testing.T) {
	now := t0.Add(time.Hour)
	tests := []struct {
		name   string
		st     groupState
		want   []string
		policy func(*reconcilePolicy)
	}{
		{
			name: "steady state changes nothing",
			st: groupState{
				Gossip: gossipOf(alive("a"), alive("b"), alive("c")),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c")},
			},
		},
		{
			name: "new alive server is added as non-voter",
			st: groupState{
				Gossip: gossipOf(alive("a"), alive("b"), alive("c"), alive("d")),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c")},
			},
			want: []string{"add-nonvoter d"},
		},
		{
			name: "stable non-voter is promoted",
			st: groupState{
				Gossip: gossipOf(alive("a"), alive("b"), alive("c"), alive("d")),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c"), nonvoter("d")},
				Server: healthy("d"),
			},
			want: []string{"promote d"},
		},
		{
			name: "non-voter not yet stable waits",
			st: groupState{
				Gossip: gossipOf(alive("a"), alive("b"), alive("c"), alive("d")),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c"), nonvoter("d")},
				Server: map[string]serverState{"d": {Known: true, Healthy: true, HealthySince: now.Add(-time.Second)}},
			},
		},
		{
			name: "unhealthy non-voter is not promoted",
			st: groupState{
				Gossip: gossipOf(alive("a"), alive("b"), alive("c"), alive("d")),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c"), nonvoter("d")},
				Server: map[string]serverState{"d": {Known: true, Status: consensus.Status{HasState: true}}},
			},
		},
		{
			name: "no promotion above MaxVoters",
			st: groupState{
				Gossip: gossipOf(alive("a"), alive("b"), alive("c"), alive("d"), alive("e"), alive("f")),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c"), voter("d"), voter("e"), nonvoter("f")},
				Server: healthy("f"),
			},
		},
		{
			name: "promotions stop at MaxVoters",
			st: groupState{
				Gossip: gossipOf(alive("a"), alive("b"), alive("c"), alive("d"), alive("e")),
				Raft:   []raftServer{voter("a"), nonvoter("b"), nonvoter("c"), nonvoter("d"), nonvoter("e")},
				Server: healthy("b", "c", "d", "e"),
			},
			policy: func(p *reconcilePolicy) { p.MaxVoters = 3 },
			want:   []string{"promote b", "promote c"},
		},
		{
			name: "voters above MaxVoters are demoted, never the leader",
			st: groupState{
				Gossip: gossipOf(alive("a"), alive("b"), alive("c"), alive("d"), alive("e")),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c"), voter("d"), voter("e")},
			},
			policy: func(p *reconcilePolicy) { p.MaxVoters = 3 },
			want:   []string{"demote e", "demote d"},
		},
		{
			name: "graceful leave is removed at once",
			st: groupState{
				Gossip: gossipOf(alive("a"), alive("b"), alive("c"), left("d")),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c"), voter("d")},
			},
			want: []string{"remove d"},
		},
		{
			name: "recently failed voter is kept",
			st: groupState{
				Gossip: gossipOf(alive("a"), alive("b"), alive("c"), failed("d", now.Add(-time.Second))),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c"), voter("d")},
			},
		},
		{
			name: "long-failed voter is removed and a healthy non-voter takes its seat",
			st: groupState{
				Gossip: gossipOf(alive("a"), alive("b"), alive("c"), alive("d"), failed("e", t0), alive("f")),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c"), voter("d"), voter("e"), nonvoter("f")},
				Server: healthy("f"),
			},
			want: []string{"promote f", "remove e"},
		},
		{
			name: "healthy non-voter takes a dead voter's seat before the timeout",
			st: groupState{
				Gossip: gossipOf(alive("a"), alive("b"), alive("c"), alive("d"), failed("e", now.Add(-time.Second)), alive("f")),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c"), voter("d"), voter("e"), nonvoter("f")},
				Server: healthy("f"),
			},
			want: []string{"promote f"},
		},
		{
			name: "never below MinQuorum voters",
			st: groupState{
				Gossip: gossipOf(alive("a"), alive("b"), failed("c", t0)),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c")},
			},
		},
		{
			name: "removal stops where MinQuorum would be crossed",
			st: groupState{
				Gossip: gossipOf(alive("a"), alive("b"), alive("c"), failed("d", t0), failed("e", t0)),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c"), voter("d"), voter("e")},
			},
			policy: func(p *reconcilePolicy) { p.MinQuorum = 4 },
			want:   []string{"remove d"},
		},
		{
			name: "a leader that sees no alive majority removes nothing",
			st: groupState{
				Gossip: gossipOf(alive("a"), alive("b"), failed("c", t0), failed("d", t0), failed("e", t0)),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c"), voter("d"), voter("e")},
			},
			policy: func(p *reconcilePolicy) { p.MinQuorum = 1 },
		},
		{
			name: "failed non-voter is removed whatever the quorum",
			st: groupState{
				Gossip: gossipOf(alive("a"), alive("b"), alive("c"), failed("d", t0)),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c"), nonvoter("d")},
			},
			want: []string{"remove d"},
		},
		{
			name: "the leader never removes itself",
			st: groupState{
				Gossip: gossipOf(left("a"), alive("b"), alive("c"), alive("d")),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c"), voter("d")},
			},
		},
		{
			name: "server back on a new address is updated in place",
			st: groupState{
				Gossip: gossipOf(alive("a"), alive("b"), gossipServer{ID: "c", RaftAddr: "c:2", State: gossipAlive}),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c")},
			},
			want: []string{"update-address c"},
		},
		{
			name: "voter back without its Raft state is removed, to be re-added",
			st: groupState{
				Gossip: gossipOf(alive("a"), alive("b"), alive("c"), alive("d")),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c"), voter("d")},
				Server: fresh("d"),
			},
			want: []string{"remove d"},
		},
		{
			name: "fresh voter is kept when removal would cross MinQuorum",
			st: groupState{
				Gossip: gossipOf(alive("a"), alive("b"), alive("c")),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c")},
				Server: fresh("c"),
			},
		},
		{
			name: "fresh non-voter is simply caught up",
			st: groupState{
				Gossip: gossipOf(alive("a"), alive("b"), alive("c"), alive("d")),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c"), nonvoter("d")},
				Server: fresh("d"),
			},
		},
		{
			name: "server unknown to gossip is left alone",
			st: groupState{
				Gossip: gossipOf(alive("a"), alive("b"), alive("c")),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c"), voter("d")},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := tt.st
			st.Time, st.Self = now, "a"
			p := policy()
			if tt.policy != nil {
				tt.policy(&p)
			}
			require.Equal(t, tt.want, nilIfEmpty(ops(planReconcile(&st, p))))
		})
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func TestPlanUpdateKeepsSuffrage(t *testing.T) {
	st := &groupState{
		Time: t0, Self: "a",
		Gossip: gossipOf(alive("a"), gossipServer{ID: "b", RaftAddr: "b:9", State: gossipAlive}),
		Raft:   []raftServer{voter("a"), nonvoter("b")},
	}
	cs := planReconcile(st, policy())
	require.Len(t, cs, 1)
	require.Equal(t, change{Op: opUpdateAddr, ID: "b", Addr: "b:9", Voter: false, Reason: "address changed from b:1"}, cs[0])
}

func TestPlanBootstrap(t *testing.T) {
	withExpect := func(g gossipServer, n int) gossipServer { g.Expect = n; return g }

	got, err := planBootstrap(3, []gossipServer{withExpect(alive("b"), 3), withExpect(alive("a"), 3)})
	require.NoError(t, err)
	require.Nil(t, got, "two of three: keep waiting")

	got, err = planBootstrap(3, []gossipServer{withExpect(alive("c"), 3), withExpect(alive("a"), 3), withExpect(alive("b"), 3)})
	require.NoError(t, err)
	require.Equal(t, []raftServer{voter("a"), voter("b"), voter("c")}, got, "sorted, all voters")

	got, err = planBootstrap(3, []gossipServer{withExpect(alive("a"), 3), withExpect(alive("b"), 0), withExpect(alive("c"), 3)})
	require.NoError(t, err, "a server that never bootstraps does not conflict")
	require.Len(t, got, 3)

	_, err = planBootstrap(3, []gossipServer{withExpect(alive("a"), 3), withExpect(alive("b"), 5), withExpect(alive("c"), 3)})
	require.ErrorIs(t, err, ErrBootstrapMismatch)
	require.Contains(t, err.Error(), "b expects 5")
}
