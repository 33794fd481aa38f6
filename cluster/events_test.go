package cluster

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/membership"
)

func TestSubscribeMergesMemberAndLeaderEvents(t *testing.T) {
	cfg, _ := serverConfig(t, "s0", t.TempDir(), 1)
	first := startNode(t, cfg)
	sub, err := first.Subscribe(64)
	require.NoError(t, err)
	defer sub.Close()

	client := startNode(t, Config{
		Name: "c0", BindAddr: "127.0.0.1:0", Profile: ProfileLocal,
		Seeds: []string{first.Local().Address()}, Logger: testLogger(t),
	})
	var sawJoin, sawLeader, sawUpdate bool
	deadline := time.After(20 * time.Second)
	for !(sawJoin && sawLeader && sawUpdate) {
		select {
		case ev := <-sub.Events():
			switch {
			case ev.Type == EventMemberJoin && ev.Member.Name == "c0":
				sawJoin = true
				require.NoError(t, client.SetTags(map[string]string{"zone": "b"}))
			case ev.Type == EventMemberUpdate && ev.Member.Name == "c0":
				require.Equal(t, "b", ev.Member.Tags["zone"])
				sawUpdate = true
			case ev.Type == EventLeaderChange && ev.Leader.Name == "s0":
				require.NotZero(t, ev.Leader.Term)
				sawLeader = true
			}
		case <-deadline:
			t.Fatalf("join %v, update %v, leader %v", sawJoin, sawUpdate, sawLeader)
		}
	}

	require.NoError(t, client.Leave(ctxT(t, 10*time.Second)))
	waitFor(t, 10*time.Second, func() bool {
		for {
			select {
			case ev := <-sub.Events():
				if ev.Type == EventMemberLeave && ev.Member.Name == "c0" {
					return true
				}
			default:
				return false
			}
		}
	}, "a leave event for the client")
	require.Zero(t, sub.Dropped())

	sub.Close()
	_, open := <-sub.Events()
	require.False(t, open, "Close closes the channel")
}

func TestSubscribeCountsDropsWhenNobodyReads(t *testing.T) {
	nodes := startServers(t, 3)
	leaderOf(t, nodes)
	sub, err := nodes[0].Subscribe(1)
	require.NoError(t, err)
	defer sub.Close()
	for i := range 3 {
		require.NoError(t, nodes[i%3].SetTags(map[string]string{"round": string(rune('a' + i))}))
	}
	waitFor(t, 10*time.Second, func() bool { return sub.Dropped() > 0 }, "drops counted")
	require.Len(t, nodes[0].Members(), 3, "Members stays the truth to resync from")
}

func TestHealthReportsFailureTolerance(t *testing.T) {
	nodes := startServers(t, 3)
	lead := leaderOf(t, nodes)
	waitFor(t, 10*time.Second, func() bool {
		h, err := lead.Health(ctxT(t, 5*time.Second))
		return err == nil && h.HealthyVoters == 3
	}, "3 healthy voters")
	h, err := lead.Health(ctxT(t, 5*time.Second))
	require.NoError(t, err)
	require.Equal(t, 3, h.Voters)
	require.Equal(t, 1, h.FailureTolerance)
	require.Len(t, h.Servers, 3)
	for _, s := range h.Servers {
		require.Equal(t, consensus.Voter, s.Suffrage)
		require.Equal(t, membership.StatusAlive, s.Gossip)
		require.Empty(t, s.Error)
	}

	var victim *testNode
	for _, n := range nodes {
		if n != lead {
			victim = n
			break
		}
	}
	require.NoError(t, victim.Close())
	waitFor(t, 20*time.Second, func() bool {
		h, err := lead.Health(ctxT(t, 5*time.Second))
		return err == nil && h.HealthyVoters == 2 && h.FailureTolerance == 0
	}, "tolerance drops to 0 with one voter down")
	h, err = lead.Health(ctxT(t, 5*time.Second))
	require.NoError(t, err)
	for _, s := range h.Servers {
		if s.Name == victim.Name() {
			require.False(t, s.Healthy)
			require.False(t, s.Known)
			require.NotEmpty(t, s.Error)
		}
	}
}
