package membership

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/testkit"
)

// TestForceLeaveCountsInStats: an alive or unknown member cannot be forced
// out; a failed one shows as left, subscribers get a leave event, and Stats
// count the events by type.
func TestForceLeaveCountsInStats(t *testing.T) {
	nodes := startCluster(t, 3, nil)
	testkit.WaitFor(t, 15*time.Second, func() bool { return allSee(nodes, 3) }, "all see three")
	sub := nodes[0].Subscribe(16)
	defer sub.Close()

	err := nodes[0].ForceLeave("node-1", false)
	require.ErrorIs(t, err, ErrNotFailed)
	require.ErrorIs(t, nodes[0].ForceLeave("nobody", false), ErrUnknownMember)

	require.NoError(t, nodes[2].Close())
	testkit.WaitFor(t, 15*time.Second, func() bool { return statusOfMember(nodes[0], "node-2") == StatusFailed }, "node-2 failed")
	require.NoError(t, nodes[0].ForceLeave("node-2", false))
	require.Equal(t, StatusLeft, statusOfMember(nodes[0], "node-2"))

	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-sub.Events():
			if ev.Type == EventLeave && ev.Member.Name == "node-2" {
				st := nodes[0].Stats()
				require.Positive(t, st.Events[EventJoin])
				require.Positive(t, st.Events[EventFailed])
				require.Positive(t, st.Events[EventLeave])
				require.Equal(t, 1, st.Subscriptions)
				require.Positive(t, st.MetadataSize)
				return
			}
		case <-deadline:
			t.Fatal(errors.New("no leave event for node-2"))
		}
	}
}
