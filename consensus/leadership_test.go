package consensus

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSubscribeLeaderAndOnLeader(t *testing.T) {
	c := newCluster(t, 3)
	old := c.waitReadyLeader()
	f := c.follower()
	w := c.nodes[f].SubscribeLeader(16)
	defer w.Close()

	terms := make(chan uint64, 8)
	for _, nd := range c.nodes {
		nd.OnLeader(func(ctx context.Context, term uint64) {
			terms <- term
			<-ctx.Done()
		})
	}
	oldTerm := <-terms // the current leader runs the callback at once
	require.Equal(t, c.nodes[old].Leader().Term, oldTerm)
	require.Equal(t, LeaderInfo{Name: c.nodes[old].Name(), Addr: c.nodes[old].Addr(), Term: oldTerm}, c.nodes[f].Leader())

	require.NoError(t, c.nodes[old].Close())
	c.nodes[old] = nil
	nl := c.waitReadyLeader()
	select {
	case term := <-terms:
		require.Greater(t, term, oldTerm)
	case <-time.After(20 * time.Second):
		t.Fatal("OnLeader did not run on the new leader")
	}
	deadline := time.After(20 * time.Second)
	for {
		select {
		case info := <-w.Events():
			if info.Name == c.nodes[nl].Name() {
				require.Greater(t, info.Term, oldTerm)
				require.Zero(t, w.Dropped())
				return
			}
		case <-deadline:
			t.Fatal("no observation of the new leader")
		}
	}
}

func TestLeaderSubscriptionCountsDrops(t *testing.T) {
	n, err := New(testConfig(t, "solo", newKV()))
	require.NoError(t, err)
	w := n.SubscribeLeader(1)
	n.lead.publish(LeaderInfo{Name: "a"})
	n.lead.publish(LeaderInfo{Name: "b"})
	n.lead.publish(LeaderInfo{Name: "c"})
	require.Equal(t, uint64(2), w.Dropped())
	require.Equal(t, "a", (<-w.Events()).Name)
	w.Close()
	w.Close()
	_, ok := <-w.Events()
	require.False(t, ok)
	require.NoError(t, n.Close())
}

// TestSubscribeLeaderBeforeStart checks that a subscription taken before
// Start sees the first leader, and that Close ends it on a node that never
// started.
func TestSubscribeLeaderBeforeStart(t *testing.T) {
	n, err := New(testConfig(t, "solo", newKV()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = n.Close() })
	w := n.SubscribeLeader(0)
	require.NoError(t, n.Start(context.Background()))
	require.NoError(t, n.Bootstrap(context.Background(), []Server{{Name: n.Name(), Addr: n.Addr()}}))
	deadline := time.After(20 * time.Second)
	for seen := false; !seen; {
		select {
		case info := <-w.Events():
			if info.Name != "" {
				require.Equal(t, "solo", info.Name)
				require.NotZero(t, info.Term)
				seen = true
			}
		case <-deadline:
			t.Fatal("no observation of the first leader")
		}
	}
	require.NoError(t, n.Close())
	_, ok := <-w.Events()
	require.False(t, ok, "Close on the node closes the subscription")

	idle, err := New(testConfig(t, "idle", newKV()))
	require.NoError(t, err)
	w = idle.SubscribeLeader(0)
	require.NoError(t, idle.Close())
	_, ok = <-w.Events()
	require.False(t, ok, "Close on a node never started closes the subscription")
}
