package clustertest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/cluster"
	"github.com/conclave-go/conclave/internal/testkit"
)

// A server that leaves and comes back on its own data dir regains its voter
// seat as soon as it has caught up, without the stabilization wait (30 s
// here); one that leaves again at once flaps, and waits for its seat.
func TestReturningServerRegainsItsSeat(t *testing.T) {
	const stabilize = 30 * time.Second
	c := New(t, 5, testOpts(t, WithConfig(func(_ int, cfg *cluster.Config) {
		cfg.Tuning.ServerStabilizationTime = stabilize
	}))...)
	lead := c.WaitLeader()
	require.NoError(t, c.poll("5 voters", func() (bool, string) { return voterCount(c) == 5, "" }))
	i := c.Except(lead)[0]

	// Its first stay began before the others' history: no evidence of flapping.
	require.NoError(t, c.Stop(i))
	require.NoError(t, c.poll("4 voters", func() (bool, string) { return voterCount(c) == 4, "" }))
	require.NoError(t, c.Restart(i))
	require.NoError(t, c.Node(i).WaitReady(testkit.Context(t, 30*time.Second)))
	back := time.Now()
	require.NoError(t, c.poll("5 voters again", func() (bool, string) { return voterCount(c) == 5, "" }))
	regained := time.Since(back)
	require.Less(t, regained, stabilize/2, "the seat came back without the stabilization wait")

	// Away again after a stay far shorter than the stabilization time.
	require.NoError(t, c.Stop(i))
	require.NoError(t, c.Restart(i))
	require.NoError(t, c.Node(i).WaitReady(testkit.Context(t, 30*time.Second)))
	name := c.Name(i)
	require.NoError(t, c.poll(name+" reported as flapping", func() (bool, string) {
		n := leaderNode(c)
		if n == nil {
			return false, "no leader"
		}
		h, err := n.Health(testkit.Context(t, time.Second))
		if err != nil {
			return false, err.Error()
		}
		for _, s := range h.Servers {
			if s.Name == name {
				return s.NotVoterReason == "stabilizing (flapping)", s.Suffrage.String() + " " + s.NotVoterReason
			}
		}
		return false, "not in the configuration"
	}))
	require.Equal(t, 4, voterCount(c), "a flapping server waits for its seat")
	t.Logf("seat regained %v after the server was ready", regained.Round(time.Millisecond))
}
