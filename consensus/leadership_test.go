package consensus

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestWatchLeaderAndOnLeader(t *testing.T) {
	c := newCluster(t, 3)
	old := c.waitReadyLeader()
	f := c.follower()
	w := c.nodes[f].WatchLeader(16)
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
		case info := <-w.C():
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

func TestLeaderWatchCountsDrops(t *testing.T) {
	n, err := New(testConfig(t, "solo", newKV()))
	require.NoError(t, err)
	w := n.WatchLeader(1)
	n.lead.publish(LeaderInfo{Name: "a"})
	n.lead.publish(LeaderInfo{Name: "b"})
	n.lead.publish(LeaderInfo{Name: "c"})
	require.Equal(t, uint64(2), w.Dropped())
	require.Equal(t, "a", (<-w.C()).Name)
	w.Close()
	w.Close()
	_, ok := <-w.C()
	require.False(t, ok)
	require.NoError(t, n.Close())
}
