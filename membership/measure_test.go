package membership

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/faultnet"
	"github.com/conclave-go/conclave/internal/testkit"
)

// TestMeasureDetectionAndHeal prints failure-detection and partition-heal
// times for the Local and LAN profiles at N=3 and N=10. It asserts only
// that detection and healing happen, not how fast. Run with:
//
//	CONCLAVE_MEMBERSHIP_MEASURE=1 go test -run TestMeasureDetectionAndHeal -v ./membership/
func TestMeasureDetectionAndHeal(t *testing.T) {
	if os.Getenv("CONCLAVE_MEMBERSHIP_MEASURE") == "" {
		t.Skip("set CONCLAVE_MEMBERSHIP_MEASURE=1 to run")
	}
	for _, p := range []Profile{Local, LAN} {
		for _, n := range []int{3, 10} {
			t.Run(fmt.Sprintf("%s/N=%d", p, n), func(t *testing.T) {
				trials := 3
				if p == LAN {
					trials = 2
				}
				var detect, heal []time.Duration
				for range trials {
					detect = append(detect, measureDetection(t, p, n))
					heal = append(heal, measureHeal(t, p, n))
				}
				fmt.Printf("profile=%s N=%d\n  detection (kill -> every other node sees failed): %v\n  partition heal (heal -> every node sees %d alive): %v\n",
					p, n, summarize(detect), n, summarize(heal))
			})
		}
	}
}

func summarize(ds []time.Duration) string {
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return fmt.Sprintf("min %v mean %v max %v (%d trials)", ds[0].Round(time.Millisecond),
		(sum / time.Duration(len(ds))).Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond), len(ds))
}

func withProfile(p Profile) func(int, *Config) {
	return func(_ int, cfg *Config) { cfg.Profile = p }
}

// measureDetection kills one node of n and returns the time until every
// other node saw it failed.
func measureDetection(t *testing.T, p Profile, n int) time.Duration {
	nodes := startCluster(t, n, withProfile(p))
	testkit.WaitFor(t, 60*time.Second, func() bool { return allSee(nodes, n) }, "formed")
	victim := nodes[n-1]
	name := victim.Local().Name
	require.NoError(t, victim.Close())
	killed := time.Now()
	testkit.WaitFor(t, 120*time.Second, func() bool {
		for _, o := range nodes[:n-1] {
			if statusOfMember(o, name) != StatusFailed {
				return false
			}
		}
		return true
	}, "every node sees %s failed", name)
	took := time.Since(killed)
	for _, node := range nodes {
		_ = node.Close()
	}
	return took
}

// measureHeal splits n nodes in two halves for longer than
// GossipToTheDeadTime and returns the time from the heal until every node
// saw all n alive.
func measureHeal(t *testing.T, p Profile, n int) time.Duration {
	fn := faultnet.New(int64(n), testkit.Logger(t))
	defer fn.Close()
	nodes := faultCluster(t, fn, n, func(cfg *Config) { cfg.Profile = p })
	var left, right []int
	for i := range n {
		if i < n/2 {
			left = append(left, i)
		} else {
			right = append(right, i)
		}
	}
	took := partitionAndHeal(t, fn, nodes, left, right, 180*time.Second)
	for _, node := range nodes {
		_ = node.Close()
	}
	return took
}
