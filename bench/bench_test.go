package bench

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/conclave-go/conclave/consensus"
)

// The benchmarks start a hand-wired raft group and a Conclave cluster (3
// servers and a client node, bolt on disk) once per benchmark function and
// measure each target with b.N operations spread over the callers. Run them
// with
//
//	go test -run='^$' -bench=. -benchtime=2s ./bench/
//
// Each reports ops/s, p50-µs and p99-µs next to Go's ns/op (wall time per
// operation over all callers).

func startEnv(b *testing.B) *Env {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env, err := StartEnv(ctx, EnvOptions{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := env.Close(); err != nil {
			b.Logf("close: %v", err)
		}
	})
	return env
}

func runBench(b *testing.B, callers int, op Op) {
	b.Helper()
	b.ResetTimer()
	r := RunN(b.Context(), callers, b.N, op)
	b.StopTimer()
	if r.Errors > 0 {
		b.Fatalf("%d of %d operations failed; first: %v", r.Errors, b.N, r.FirstErr)
	}
	b.ReportMetric(r.Throughput(), "ops/s")
	b.ReportMetric(float64(r.Percentile(0.5).Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(r.Percentile(0.99).Nanoseconds())/1e3, "p99-µs")
}

// BenchmarkWrite compares raft.Apply on a hand-wired leader with Conclave's
// Apply on the leader, a follower and a client node.
func BenchmarkWrite(b *testing.B) {
	env := startEnv(b)
	for _, size := range []int{64, 4096} {
		for _, callers := range []int{1, 16, 64, 256} {
			for i, t := range mustTargets(b, func() ([]Target, error) { return env.WriteTargets(size) }) {
				b.Run(fmt.Sprintf("size=%d/callers=%d/%s", size, callers, benchName(t.Name)), func(b *testing.B) {
					ts := mustTargets(b, func() ([]Target, error) { return env.WriteTargets(size) })
					runBench(b, callers, ts[i].Op)
				})
			}
		}
	}
}

// BenchmarkRead compares reads at each level on the leader and a follower.
func BenchmarkRead(b *testing.B) {
	env := startEnv(b)
	for _, level := range []consensus.ReadLevel{consensus.Stale, consensus.Leader, consensus.Linearizable} {
		for _, callers := range []int{1, 64} {
			for i, t := range mustTargets(b, func() ([]Target, error) { return env.ReadTargets(level) }) {
				b.Run(fmt.Sprintf("level=%v/callers=%d/%s", level, callers, benchName(t.Name)), func(b *testing.B) {
					ts := mustTargets(b, func() ([]Target, error) { return env.ReadTargets(level) })
					runBench(b, callers, ts[i].Op)
				})
			}
		}
	}
}

// mustTargets builds the targets as the groups stand now (following a
// leader change) or fails the benchmark.
func mustTargets(b *testing.B, build func() ([]Target, error)) []Target {
	b.Helper()
	ts, err := build()
	if err != nil {
		b.Fatal(err)
	}
	return ts
}

// benchName turns "conclave follower" into "conclave-follower".
func benchName(s string) string {
	out := []byte(s)
	for i, c := range out {
		if c == ' ' {
			out[i] = '-'
		}
	}
	return string(out)
}

// smoke reports whether the end-to-end smoke test should run.
func smoke(t *testing.T) {
	t.Helper()
	if os.Getenv("CONCLAVE_BENCH_SMOKE") == "" {
		t.Skip("set CONCLAVE_BENCH_SMOKE=1 to run the suite end to end in short form")
	}
}
