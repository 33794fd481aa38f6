package membership

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/testkit"
)

// TestForceLeave closes a member, forces it out from one node and checks
// that every member records a leave, then forgets it with prune.
func TestForceLeave(t *testing.T) {
	nodes := startCluster(t, 4, nil)
	testkit.WaitFor(t, 10*time.Second, func() bool { return allSee(nodes, 4) }, "formed")
	rec := record(nodes[2].Subscribe(0))
	require.ErrorIs(t, nodes[0].ForceLeave("node-3", false), ErrInvalidArgument, "alive")
	require.ErrorIs(t, nodes[0].ForceLeave("nobody", false), ErrInvalidArgument)
	require.NoError(t, nodes[3].Close())
	live := nodes[:3]
	everyone := func(s Status) func() bool {
		return func() bool {
			for _, n := range live {
				if statusOfMember(n, "node-3") != s {
					return false
				}
			}
			return true
		}
	}
	testkit.WaitFor(t, 20*time.Second, everyone(StatusFailed), "node-3 seen failed")
	require.NoError(t, nodes[0].ForceLeave("node-3", false))
	testkit.WaitFor(t, 2*time.Second, everyone(StatusLeft), "node-3 left everywhere")
	testkit.WaitFor(t, 2*time.Second, func() bool { return rec.has(EventLeave, "node-3") }, "a leave event")
	require.NoError(t, nodes[1].ForceLeave("node-3", true))
	testkit.WaitFor(t, 2*time.Second, everyone(StatusNone), "node-3 forgotten everywhere")
	testkit.WaitFor(t, 2*time.Second, func() bool { return rec.has(EventReap, "node-3") }, "a reap event")
	require.Equal(t, []EventType{EventFailed, EventLeave, EventReap}, rec.of("node-3"))
}

func TestTableForceLeave(t *testing.T) {
	tb := newTable("a")
	now := time.Now()
	tb.set(Member{Name: "a", Status: StatusAlive}, now)
	tb.set(Member{Name: "b", Status: StatusAlive}, now)
	tb.set(Member{Name: "c", Status: StatusFailed}, now)
	require.Empty(t, tb.forceLeave("a", true, now))
	require.Empty(t, tb.forceLeave("b", true, now))
	require.Empty(t, tb.forceLeave("x", true, now))
	evs := tb.forceLeave("c", false, now)
	require.Len(t, evs, 1)
	require.Equal(t, EventLeave, evs[0].Type)
	evs = tb.forceLeave("c", true, now)
	require.Len(t, evs, 1)
	require.Equal(t, EventReap, evs[0].Type)
	_, ok := tb.get("c")
	require.False(t, ok)
}
