package membership

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// formationTrial starts n nodes one after another, each seeded with the
// first, with periodic push-pull effectively off (so that only gossip and
// join sync can spread the joins), and returns how long after the last
// Start every node saw n alive members, or false if that did not happen
// within limit.
func formationTrial(t *testing.T, n, syncRounds int, limit time.Duration) (time.Duration, bool) {
	t.Helper()
	nodes := startCluster(t, n, func(_ int, cfg *Config) {
		cfg.Tuning.PushPullInterval = time.Hour
		cfg.Tuning.JoinSyncRounds = syncRounds
	})
	defer func() {
		for _, node := range nodes {
			_ = node.Close()
		}
	}()
	started := time.Now()
	for !allSee(nodes, n) {
		if time.Since(started) > limit {
			return limit, false
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(started), true
}

// TestFormationConverges checks that nodes started one after another all
// see each other quickly in every trial, without relying on push-pull.
func TestFormationConverges(t *testing.T) {
	const n, trials = 10, 3
	for trial := range trials {
		took, ok := formationTrial(t, n, 0, 10*time.Second)
		require.True(t, ok, "trial %d: %d nodes did not converge", trial, n)
		t.Logf("trial %d: %d nodes converged %v after the last start", trial, n, took)
	}
}

// TestFormationScale reports convergence times at N=10 and N=30. Run with
// CONCLAVE_MEMBERSHIP_SCALE=1 (CONCLAVE_MEMBERSHIP_TRIALS sets the number of
// trials, default 10); CONCLAVE_MEMBERSHIP_SCALE_BASELINE=1 also runs
// without join sync, to compare with bare memberlist.
func TestFormationScale(t *testing.T) {
	if os.Getenv("CONCLAVE_MEMBERSHIP_SCALE") == "" {
		t.Skip("set CONCLAVE_MEMBERSHIP_SCALE=1 to run")
	}
	trials := 10
	if s := os.Getenv("CONCLAVE_MEMBERSHIP_TRIALS"); s != "" {
		trials, _ = strconv.Atoi(s)
	}
	type mode struct {
		name   string
		rounds int
	}
	modes := []mode{{"join-sync", 0}}
	if os.Getenv("CONCLAVE_MEMBERSHIP_SCALE_BASELINE") != "" {
		modes = append(modes, mode{"no-join-sync", -1})
	}
	const limit = 20 * time.Second
	for _, md := range modes {
		for _, n := range []int{10, 30} {
			t.Run(fmt.Sprintf("%s/N=%d", md.name, n), func(t *testing.T) {
				var worst, total time.Duration
				converged := 0
				for trial := range trials {
					took, ok := formationTrial(t, n, md.rounds, limit)
					t.Logf("trial %d: %v converged=%v", trial, took, ok)
					if ok {
						converged++
						worst, total = max(worst, took), total+took
					}
				}
				mean := time.Duration(0)
				if converged > 0 {
					mean = total / time.Duration(converged)
				}
				fmt.Printf("formation %s N=%d: %d/%d trials converged within %v; mean %v, worst %v\n",
					md.name, n, converged, trials, limit, mean, worst)
				if md.rounds >= 0 {
					require.Equal(t, trials, converged)
				}
			})
		}
	}
}
