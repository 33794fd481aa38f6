package cluster

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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

func healthy(ids ...string) map[string]serverHealth {
	m := make(map[string]serverHealth, len(ids))
	for _, id := range ids {
		m[id] = serverHealth{Healthy: true, HealthySince: t0}
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
		in     reconcileInput
		want   []string
		policy func(*reconcilePolicy)
	}{
		{
			name: "steady state changes nothing",
			in: reconcileInput{
				Gossip: gossipOf(alive("a"), alive("b"), alive("c")),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c")},
			},
		},
		{
			name: "new alive server is added as non-voter",
			in: reconcileInput{
				Gossip: gossipOf(alive("a"), alive("b"), alive("c"), alive("d")),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c")},
			},
			want: []string{"add-nonvoter d"},
		},
		{
			name: "stable non-voter is promoted",
			in: reconcileInput{
				Gossip: gossipOf(alive("a"), alive("b"), alive("c"), alive("d")),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c"), nonvoter("d")},
				Health: healthy("d"),
			},
			want: []string{"promote d"},
		},
		{
			name: "non-voter not yet stable waits",
			in: reconcileInput{
				Gossip: gossipOf(alive("a"), alive("b"), alive("c"), alive("d")),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c"), nonvoter("d")},
				Health: map[string]serverHealth{"d": {Healthy: true, HealthySince: now.Add(-time.Second)}},
			},
		},
		{
			name: "unhealthy non-voter is not promoted",
			in: reconcileInput{
				Gossip: gossipOf(alive("a"), alive("b"), alive("c"), alive("d")),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c"), nonvoter("d")},
				Health: map[string]serverHealth{"d": {Healthy: false, HealthySince: t0}},
			},
		},
		{
			name: "no promotion above MaxVoters",
			in: reconcileInput{
				Gossip: gossipOf(alive("a"), alive("b"), alive("c"), alive("d"), alive("e"), alive("f")),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c"), voter("d"), voter("e"), nonvoter("f")},
				Health: healthy("f"),
			},
		},
		{
			name: "promotions stop at MaxVoters",
			in: reconcileInput{
				Gossip: gossipOf(alive("a"), alive("b"), alive("c"), alive("d"), alive("e")),
				Raft:   []raftServer{voter("a"), nonvoter("b"), nonvoter("c"), nonvoter("d"), nonvoter("e")},
				Health: healthy("b", "c", "d", "e"),
			},
			policy: func(p *reconcilePolicy) { p.MaxVoters = 3 },
			want:   []string{"promote b", "promote c"},
		},
		{
			name: "voters above MaxVoters are demoted, never the leader",
			in: reconcileInput{
				Gossip: gossipOf(alive("a"), alive("b"), alive("c"), alive("d"), alive("e")),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c"), voter("d"), voter("e")},
			},
			policy: func(p *reconcilePolicy) { p.MaxVoters = 3 },
			want:   []string{"demote e", "demote d"},
		},
		{
			name: "graceful leave is removed at once",
			in: reconcileInput{
				Gossip: gossipOf(alive("a"), alive("b"), alive("c"), left("d")),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c"), voter("d")},
			},
			want: []string{"remove d"},
		},
		{
			name: "recently failed voter is kept",
			in: reconcileInput{
				Gossip: gossipOf(alive("a"), alive("b"), alive("c"), failed("d", now.Add(-time.Second))),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c"), voter("d")},
			},
		},
		{
			name: "long-failed voter is removed and a healthy non-voter takes its seat",
			in: reconcileInput{
				Gossip: gossipOf(alive("a"), alive("b"), alive("c"), alive("d"), failed("e", t0), alive("f")),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c"), voter("d"), voter("e"), nonvoter("f")},
				Health: healthy("f"),
			},
			want: []string{"remove e", "promote f"},
		},
		{
			name: "healthy non-voter takes a dead voter's seat before the timeout",
			in: reconcileInput{
				Gossip: gossipOf(alive("a"), alive("b"), alive("c"), alive("d"), failed("e", now.Add(-time.Second)), alive("f")),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c"), voter("d"), voter("e"), nonvoter("f")},
				Health: healthy("f"),
			},
			want: []string{"promote f"},
		},
		{
			name: "never below MinQuorum voters",
			in: reconcileInput{
				Gossip: gossipOf(alive("a"), alive("b"), failed("c", t0)),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c")},
			},
		},
		{
			name: "removal stops where MinQuorum would be crossed",
			in: reconcileInput{
				Gossip: gossipOf(alive("a"), alive("b"), alive("c"), failed("d", t0), failed("e", t0)),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c"), voter("d"), voter("e")},
			},
			policy: func(p *reconcilePolicy) { p.MinQuorum = 4 },
			want:   []string{"remove d"},
		},
		{
			name: "a leader that sees no alive majority removes nothing",
			in: reconcileInput{
				Gossip: gossipOf(alive("a"), alive("b"), failed("c", t0), failed("d", t0), failed("e", t0)),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c"), voter("d"), voter("e")},
			},
			policy: func(p *reconcilePolicy) { p.MinQuorum = 1 },
		},
		{
			name: "failed non-voter is removed whatever the quorum",
			in: reconcileInput{
				Gossip: gossipOf(alive("a"), alive("b"), alive("c"), failed("d", t0)),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c"), nonvoter("d")},
			},
			want: []string{"remove d"},
		},
		{
			name: "the leader never removes itself",
			in: reconcileInput{
				Gossip: gossipOf(left("a"), alive("b"), alive("c"), alive("d")),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c"), voter("d")},
			},
		},
		{
			name: "server back on a new address is updated in place",
			in: reconcileInput{
				Gossip: gossipOf(alive("a"), alive("b"), gossipServer{ID: "c", RaftAddr: "c:2", State: gossipAlive}),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c")},
			},
			want: []string{"update-address c"},
		},
		{
			name: "voter back without its Raft state is removed, to be re-added",
			in: reconcileInput{
				Gossip: gossipOf(alive("a"), alive("b"), alive("c"), alive("d")),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c"), voter("d")},
				Fresh:  map[string]bool{"d": true},
			},
			want: []string{"remove d"},
		},
		{
			name: "fresh voter is kept when removal would cross MinQuorum",
			in: reconcileInput{
				Gossip: gossipOf(alive("a"), alive("b"), alive("c")),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c")},
				Fresh:  map[string]bool{"c": true},
			},
		},
		{
			name: "fresh non-voter is simply caught up",
			in: reconcileInput{
				Gossip: gossipOf(alive("a"), alive("b"), alive("c"), alive("d")),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c"), nonvoter("d")},
				Fresh:  map[string]bool{"d": true},
			},
		},
		{
			name: "server unknown to gossip is left alone",
			in: reconcileInput{
				Gossip: gossipOf(alive("a"), alive("b"), alive("c")),
				Raft:   []raftServer{voter("a"), voter("b"), voter("c"), voter("d")},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.Now, in.Self, in.Policy = now, "a", policy()
			if tt.policy != nil {
				tt.policy(&in.Policy)
			}
			require.Equal(t, tt.want, nilIfEmpty(ops(planReconcile(in))))
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
	in := reconcileInput{
		Now: t0, Self: "a", Policy: policy(),
		Gossip: gossipOf(alive("a"), gossipServer{ID: "b", RaftAddr: "b:9", State: gossipAlive}),
		Raft:   []raftServer{voter("a"), nonvoter("b")},
	}
	cs := planReconcile(in)
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
