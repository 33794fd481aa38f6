package consensus

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/testkit"
)

// A leader's Close hands leadership over: the survivors learn of a new
// leader well within a follower's election timeout (500 ms to 1 s on the
// Local profile), which they would otherwise wait out.
func TestCloseHandsLeadershipOver(t *testing.T) {
	c := newCluster(t, 3)
	l := c.waitReadyLeader()
	old := c.nodes[l].Name()
	f := c.follower()
	sub := c.nodes[f].SubscribeLeader(16)
	defer sub.Close()

	start := time.Now()
	require.NoError(t, c.nodes[l].Close())
	closed := time.Since(start)
	c.nodes[l] = nil

	var learned time.Duration
	ctx := testkit.Context(t, 10*time.Second)
	for learned == 0 {
		select {
		case li := <-sub.Events():
			if li.Name != "" && li.Name != old {
				learned = time.Since(start)
			}
		case <-ctx.Done():
			t.Fatal("no new leader")
		}
	}
	rc := c.cfgs[l].raftConfig()
	require.Less(t, learned, rc.HeartbeatTimeout, "a new leader without waiting for an election timeout")
	require.Less(t, closed, 3*rc.ElectionTimeout+time.Second, "Close within its bound")
	t.Logf("Close took %v; the follower learned of the new leader after %v", closed, learned)
}

// Close of the group's only voter has nobody to hand over to and closes at
// once.
func TestCloseOfTheOnlyVoter(t *testing.T) {
	c := newCluster(t, 1)
	start := time.Now()
	require.NoError(t, c.nodes[0].Close())
	require.Less(t, time.Since(start), c.cfgs[0].raftConfig().ElectionTimeout)
	c.nodes[0] = nil
}
