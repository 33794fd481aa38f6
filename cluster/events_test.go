package cluster

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/internal/testkit"
	"github.com/conclave-go/conclave/membership"
)

func TestSubscribeMergesMemberAndLeaderEvents(t *testing.T) {
	cfg, _ := serverConfig(t, "s0", t.TempDir(), 1)
	first := startNode(t, cfg)
	sub := first.Subscribe(64)
	defer sub.Close()

	client := startNode(t, Config{
		Name: "c0", BindAddr: "127.0.0.1:0", Profile: ProfileLocal,
		Seeds: []string{first.Local().Address()}, Logger: testkit.Logger(t),
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

	require.NoError(t, client.Leave(testkit.Context(t, 10*time.Second)))
	testkit.WaitFor(t, 10*time.Second, func() bool {
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
	sub := nodes[0].Subscribe(1)
	defer sub.Close()
	for i := range 3 {
		require.NoError(t, nodes[i%3].SetTags(map[string]string{"round": string(rune('a' + i))}))
	}
	testkit.WaitFor(t, 10*time.Second, func() bool { return sub.Dropped() > 0 }, "drops counted")
	require.Len(t, nodes[0].Members(), 3, "Members stays the truth to resync from")
}

// TestSubscribeBeforeStartSeesFirstJoins subscribes before Start and starts
// a 3-server cluster: the subscription sees every server join, its own node
// included, and the first leader.
func TestSubscribeBeforeStartSeesFirstJoins(t *testing.T) {
	cfg, _ := serverConfig(t, "s0", t.TempDir(), 3)
	first, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = first.Close() })
	sub := first.Subscribe(0)
	defer sub.Close()
	require.NoError(t, first.Start(testkit.Context(t, 20*time.Second)))
	for _, name := range []string{"s1", "s2"} {
		cfg, _ := serverConfig(t, name, t.TempDir(), 3, first.Local().Address())
		startNode(t, cfg)
	}

	joined := map[string]bool{}
	leader := false
	deadline := time.After(30 * time.Second)
	for len(joined) < 3 || !leader {
		select {
		case ev := <-sub.Events():
			switch ev.Type {
			case EventMemberJoin:
				joined[ev.Member.Name] = true
			case EventLeaderChange:
				leader = leader || ev.Leader.Name != ""
			}
		case <-deadline:
			t.Fatalf("joins seen %v, leader seen %v", joined, leader)
		}
	}
	require.Equal(t, map[string]bool{"s0": true, "s1": true, "s2": true}, joined)
	require.Zero(t, sub.Dropped())
}

// TestSubscriptionEndsWithNode checks that Close on a node, started or not,
// closes its subscriptions, and that a subscription made after Close is
// closed from the start.
func TestSubscriptionEndsWithNode(t *testing.T) {
	for _, start := range []bool{false, true} {
		cfg, _ := serverConfig(t, "s0", t.TempDir(), 1)
		n, err := New(cfg)
		require.NoError(t, err)
		sub := n.Subscribe(0)
		if start {
			require.NoError(t, n.Start(testkit.Context(t, 20*time.Second)))
		}
		require.NoError(t, n.Close())
		for range sub.Events() {
		}
		sub.Close()
		late := n.Subscribe(0)
		_, open := <-late.Events()
		require.False(t, open, "a subscription after Close is closed")
		late.Close()
	}
}

func TestEventString(t *testing.T) {
	for _, c := range []struct {
		ev   Event
		want string
	}{
		{Event{Type: EventMemberJoin, Member: membership.Member{Name: "n2"}}, "member-join n2"},
		{Event{Type: EventMemberFailed, Member: membership.Member{Name: "n3"}}, "member-failed n3"},
		{Event{Type: EventLeaderChange, Leader: consensus.LeaderInfo{Name: "n1", Addr: "a:1", Term: 3}}, "leader-change n1 term 3"},
		{Event{Type: EventLeaderChange}, "leader-change none"},
	} {
		require.Equal(t, c.want, c.ev.String())
	}
}

func TestHealthReportsFailureTolerance(t *testing.T) {
	nodes := startServers(t, 3)
	lead := leaderOf(t, nodes)
	testkit.WaitFor(t, 10*time.Second, func() bool {
		h, err := lead.Health(testkit.Context(t, 5*time.Second))
		return err == nil && h.HealthyVoters == 3
	}, "3 healthy voters")
	h, err := lead.Health(testkit.Context(t, 5*time.Second))
	require.NoError(t, err)
	require.Equal(t, 3, h.Voters)
	require.Equal(t, 1, h.FailureTolerance)
	require.Len(t, h.Servers, 3)
	for _, s := range h.Servers {
		require.Equal(t, consensus.Voter, s.Suffrage)
		require.Equal(t, membership.StatusAlive, s.Gossip)
		require.Empty(t, s.Error)
	}

	victim := nodes[followerIndex(nodes, lead)]
	require.NoError(t, victim.Close())
	testkit.WaitFor(t, 20*time.Second, func() bool {
		h, err := lead.Health(testkit.Context(t, 5*time.Second))
		return err == nil && h.HealthyVoters == 2 && h.FailureTolerance == 0
	}, "tolerance drops to 0 with one voter down")
	h, err = lead.Health(testkit.Context(t, 5*time.Second))
	require.NoError(t, err)
	for _, s := range h.Servers {
		if s.Name == victim.Name() {
			require.False(t, s.Healthy)
			require.False(t, s.Known)
			require.NotEmpty(t, s.Error)
		}
	}
}
