package cluster

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/membership"
)

var testHealthPolicy = healthPolicy{LastContactThreshold: time.Second, MaxTrailingLogs: 10}

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

	require.Equal(t, t0, cur.Server["c"].HealthySince, "an unbroken streak keeps its start")
	require.Equal(t, errNotAsked, cur.Server["d"].Err)
	require.True(t, cur.Server["d"].ReadAt.IsZero(), "d never answered")
	require.Equal(t, t0, cur.Gossip["d"].Since, "d has been missing since it was first noticed")
	require.Equal(t, uint64(100), cur.CommitIndex)
	require.True(t, cur.leading())
}

func TestServerHealthy(t *testing.T) {
	ok := serverState{Known: true, Status: consensus.Status{LastContact: 100 * time.Millisecond, AppliedIndex: 95}}
	tests := []struct {
		name  string
		alive bool
		s     func(*serverState)
		want  bool
	}{
		{name: "alive, in contact, caught up", alive: true, want: true},
		{name: "not alive in gossip", alive: false},
		{name: "did not answer this round", alive: true, s: func(s *serverState) { s.Known = false }},
		{name: "never heard from a leader", alive: true, s: func(s *serverState) { s.Status.LastContact = -1 }},
		{name: "leader silent too long", alive: true, s: func(s *serverState) { s.Status.LastContact = 2 * time.Second }},
		{name: "exactly at the trailing limit", alive: true, s: func(s *serverState) { s.Status.AppliedIndex = 90 }, want: true},
		{name: "beyond the trailing limit", alive: true, s: func(s *serverState) { s.Status.AppliedIndex = 89 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			if tt.s != nil {
				tt.s(&s)
			}
			require.Equal(t, tt.want, serverHealthy(tt.alive, s, 100, testHealthPolicy))
		})
	}
}
