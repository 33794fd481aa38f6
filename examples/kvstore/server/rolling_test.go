package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/testkit"
)

// sigtermBound is how long a kvstore process may take to exit on SIGTERM
// on the Local profile: a Close hands leadership over and drains (about
// three election timeouts and a second), a Leave also waits for a returning
// server and for its removal; the rest is the HTTP drain and exit.
const sigtermBound = 5 * time.Second

// TestRollingRestart restarts five kvstore processes one at a time, twice
// over, under steady writes, as an operator would: SIGTERM, start again on the same data
// dir, wait until /readyz answers, next. With -leave-on-exit each server
// leaves and rejoins; without, each keeps its seat. The leader's voter count
// and failure tolerance are sampled every 100 ms; every acknowledged write is
// read back linearizably at the end.
func TestRollingRestart(t *testing.T) {
	bin := buildKvstore(t)
	for _, tc := range []struct {
		name  string
		extra []string
	}{{"close", nil}, {"leave-on-exit", []string{"-leave-on-exit"}}} {
		t.Run(tc.name, func(t *testing.T) {
			procs := startCluster(t, bin, 5, tc.extra...)
			waitReady(t, procs...)
			testkit.WaitFor(t, 30*time.Second, func() bool { return leaderVoters(procs).voters == 5 }, "5 voters")

			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			w := &bgWriter{acked: map[string]string{}}
			wg.Go(func() { w.run(ctx, procs) })
			low := &voterLows{voters: 1 << 30, tolerance: 1 << 30}
			wg.Go(func() { low.sample(ctx, procs) })
			defer func() { cancel(); wg.Wait() }()

			var longest time.Duration
			for _, p := range append(procs[:len(procs):len(procs)], procs...) { // every server twice
				start := time.Now()
				st := p.signal(syscall.SIGTERM)
				took := time.Since(start)
				longest = max(longest, took)
				require.NotNil(t, st)
				require.Equal(t, 0, st.ExitCode(), "%s exits cleanly on SIGTERM", p.name)
				require.LessOrEqual(t, took, sigtermBound, "%s took %v to exit on SIGTERM", p.name, took)
				p.Start()
				waitReady(t, p)
			}
			testkit.WaitFor(t, 30*time.Second, func() bool { return leaderVoters(procs).voters == 5 }, "5 voters after the restarts")
			cancel()
			wg.Wait()

			t.Logf("rolling restart (%s): lowest voters %d, lowest failure tolerance %d (%d samples); longest SIGTERM %v; %d writes acknowledged",
				tc.name, low.voters, low.tolerance, low.samples, longest.Round(time.Millisecond), len(w.acked))
			require.GreaterOrEqual(t, low.voters, 4, "voters fell below 4")
			require.GreaterOrEqual(t, low.tolerance, 1, "failure tolerance fell below 1")
			require.NotEmpty(t, w.acked)
			checkReads(t, procs[0], &writer{t: t, acked: w.acked, deleted: map[string]bool{}, unknown: w.unknownKeys()})
		})
	}
}

// bgWriter writes fresh keys in a loop through whichever process answers,
// remembering the acknowledged ones and the ones of unknown outcome.
type bgWriter struct {
	mu      sync.Mutex
	acked   map[string]string
	unknown map[string]bool
}

func (w *bgWriter) run(ctx context.Context, procs []*proc) {
	for i := 0; ctx.Err() == nil; i++ {
		p := procs[i%len(procs)]
		key, value := fmt.Sprintf("r-%d", i), fmt.Sprintf("v-%d", i)
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		code, _, _ := do(rctx, http.MethodPut, "http://"+p.http+"/kv/"+key, []byte(value))
		cancel()
		w.mu.Lock()
		switch code {
		case http.StatusNoContent:
			w.acked[key] = value
		case http.StatusGatewayTimeout, 0:
			if w.unknown == nil {
				w.unknown = map[string]bool{}
			}
			w.unknown[key] = true // may or may not have been applied; never read back
		}
		w.mu.Unlock()
	}
}

func (w *bgWriter) unknownKeys() map[string]bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]bool, len(w.unknown))
	for k := range w.unknown {
		out[k] = true
	}
	return out
}

// voterLows holds the lowest voter count and failure tolerance the leader
// reported.
type voterLows struct {
	voters, tolerance, samples int
}

func (l *voterLows) sample(ctx context.Context, procs []*proc) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if h := leaderVoters(procs); h.voters > 0 {
			l.samples++
			l.voters, l.tolerance = min(l.voters, h.voters), min(l.tolerance, h.tolerance)
		}
	}
}

type voterHealth struct{ voters, tolerance int }

// leaderVoters returns the voters and failure tolerance the leader's Health
// reports; zero when no process answers as leader.
func leaderVoters(procs []*proc) voterHealth {
	for _, p := range procs {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		code, body, _ := do(ctx, http.MethodGet, "http://"+p.http+"/cluster/health", nil)
		cancel()
		var h struct {
			Node   string `json:"node"`
			Leader *struct {
				Name string `json:"name"`
			} `json:"leader"`
			Voters           int `json:"voters"`
			FailureTolerance int `json:"failure_tolerance"`
		}
		if code != http.StatusOK || json.Unmarshal(body, &h) != nil || h.Leader == nil || h.Leader.Name != h.Node {
			continue
		}
		return voterHealth{h.Voters, h.FailureTolerance}
	}
	return voterHealth{}
}
