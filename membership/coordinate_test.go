package membership

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/faultnet"
	"github.com/conclave-go/conclave/internal/testkit"
)

// TestCoordinatesEstimateRTT delays every packet node-1 sends or receives
// by 20 ms one way, so its round trip to either other node is 20 ms, and
// checks that the coordinates estimate it within 25% and sort node-1 last.
func TestCoordinatesEstimateRTT(t *testing.T) {
	fn := faultnet.New(5, testkit.Logger(t))
	defer fn.Close()
	nodes := faultCluster(t, fn, 3, func(cfg *Config) { cfg.Tuning.ProbeInterval = 50 * time.Millisecond })
	const delay = 20 * time.Millisecond
	require.NoError(t, fn.SetLinkDelay("node-0", "node-1", delay, 0))
	require.NoError(t, fn.SetLinkDelay("node-2", "node-1", delay, 0))
	within := func(m *Membership, a, b string) bool {
		rtt, ok := m.RTT(a, b)
		return ok && math.Abs(float64(rtt-delay)) <= 0.25*float64(delay)
	}
	testkit.WaitFor(t, 60*time.Second, func() bool {
		return within(nodes[0], "node-0", "node-1") && within(nodes[1], "node-1", "node-0") &&
			within(nodes[2], "node-2", "node-1") && within(nodes[0], "node-2", "node-1")
	}, "estimated RTT to node-1 within 25%% of %v", delay)
	members := nodes[0].Members()
	nodes[0].SortByDistance(members)
	require.Equal(t, "node-1", members[2].Name)
	_, ok := nodes[0].RTT("node-0", "nobody")
	require.False(t, ok)
}

func TestDecodeCoordinate(t *testing.T) {
	c := newCoordinate()
	c.Vec[0], c.Height = 0.5, 0.001
	got, err := decodeCoordinate(encodeCoordinate(c))
	require.NoError(t, err)
	require.Equal(t, c, got)
	_, err = decodeCoordinate(encodeCoordinate(c)[1:])
	require.ErrorIs(t, err, errBadMessage)
	_, err = decodeCoordinate(append(encodeCoordinate(c), 0))
	require.ErrorIs(t, err, errBadMessage)
	for _, bad := range []func(*Coordinate){
		func(c *Coordinate) { c.Vec[1] = math.NaN() },
		func(c *Coordinate) { c.Height = 0 },
		func(c *Coordinate) { c.Error = 2 },
		func(c *Coordinate) { c.Height = math.Inf(1) },
	} {
		b := c
		bad(&b)
		_, err = decodeCoordinate(encodeCoordinate(b))
		require.ErrorIs(t, err, errBadMessage)
	}
}

// TestVivaldiConverges simulates nodes on a line 10 ms apart and checks
// that the estimates come within 15% of the truth.
func TestVivaldiConverges(t *testing.T) {
	const n = 6
	nodes := make([]*vivaldi, n)
	for i := range nodes {
		nodes[i] = newVivaldi(uint64(i + 1))
	}
	truth := func(i, j int) time.Duration { return time.Duration(abs(i-j)) * 10 * time.Millisecond }
	for round := range 400 {
		for i := range nodes {
			j := (i + 1 + round%(n-1)) % n
			nodes[i].update(fmt.Sprint(j), nodes[j].c, truth(i, j))
		}
	}
	for i := range nodes {
		for j := range nodes {
			if i == j {
				continue
			}
			got, want := nodes[i].c.DistanceTo(nodes[j].c), truth(i, j)
			require.InDelta(t, want.Seconds(), got.Seconds(), 0.15*want.Seconds(), "%d-%d", i, j)
		}
	}
	nodes[0].update("x", nodes[1].c, 0)
	nodes[0].update("x", nodes[1].c, time.Minute)
	require.NotContains(t, nodes[0].samples, "x", "out-of-range samples are ignored")
}

func abs(x int) int { return max(x, -x) }
