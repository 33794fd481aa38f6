package membership

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// formationTrial starts n nodes one after another, each seeded with the
// first, with periodic push-pull effectively off (so that only gossip and
// join sync can spread the joins), and returns how long after the last
// Start every node saw n alive members.
func formationTrial(t *testing.T, n int, syncRounds int) time.Duration {
	t.Helper()
	nodes := startCluster(t, n, func(_ int, cfg *Config) {
		cfg.Timing.PushPullInterval = time.Hour
		cfg.Timing.JoinSyncRounds = syncRounds
	})
	started := time.Now()
	waitFor(t, 20*time.Second, func() bool { return allSee(nodes, n) }, "all %d nodes see %d alive", n, n)
	elapsed := time.Since(started)
	for _, node := range nodes {
		_ = node.Close()
	}
	return elapsed
}

// TestFormationConverges checks that nodes started one after another all
// see each other quickly in every trial, without relying on push-pull.
func TestFormationConverges(t *testing.T) {
	const n, trials = 10, 3
	for trial := range trials {
		elapsed := formationTrial(t, n, 0)
		t.Logf("trial %d: %d nodes converged %v after the last start", trial, n, elapsed)
	}
}

// TestFormationScale reports convergence times at N=10 and N=30 over many
// trials. Run with CONCLAVE_MEMBERSHIP_SCALE=1; set
// CONCLAVE_MEMBERSHIP_SCALE_BASELINE=1 to also run without join sync.
func TestFormationScale(t *testing.T) {
	if os.Getenv("CONCLAVE_MEMBERSHIP_SCALE") == "" {
		t.Skip("set CONCLAVE_MEMBERSHIP_SCALE=1 to run")
	}
	modes := []struct {
		name   string
		rounds int
	}{{"join-sync", 0}}
	if os.Getenv("CONCLAVE_MEMBERSHIP_SCALE_BASELINE") != "" {
		modes = append(modes, struct {
			name   string
			rounds int
		}{"no-join-sync", -1})
	}
	for _, mode := range modes {
		for _, n := range []int{10, 30} {
			t.Run(fmt.Sprintf("%s/N=%d", mode.name, n), func(t *testing.T) {
				var worst, total time.Duration
				trials := 10
				if s := os.Getenv("CONCLAVE_MEMBERSHIP_TRIALS"); s != "" {
					trials, _ = strconv.Atoi(s)
				}
				for trial := range trials {
					d := formationTrial(t, n, mode.rounds)
					t.Logf("trial %d: %v", trial, d)
					worst, total = max(worst, d), total+d
				}
				fmt.Printf("formation %s N=%d: mean %v, worst %v over %d trials\n", mode.name, n, total/time.Duration(trials), worst, trials)
			})
		}
	}
}
