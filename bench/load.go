package bench

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Op is one operation of a closed-loop load: worker is the caller's index,
// seq increases per worker.
type Op func(ctx context.Context, worker, seq int) error

// Result is what a load run measured.
type Result struct {
	Ops      int           // operations that succeeded
	Errors   int           // operations that failed
	FirstErr error         // the first failure, if any
	Elapsed  time.Duration // wall time of the run(s)
	// CPU is the CPU time used while the operations ran, by this process
	// and the processes the target names (see [Target]); 0 when not
	// measured.
	CPU    time.Duration
	lat    []time.Duration
	sorted bool
}

// Throughput returns successful operations per second.
func (r *Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Elapsed.Seconds()
}

// Percentile returns the latency at quantile q (0 to 1) of the successful
// operations.
func (r *Result) Percentile(q float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	if !r.sorted {
		slices.Sort(r.lat)
		r.sorted = true
	}
	i := min(int(q*float64(len(r.lat))), len(r.lat)-1)
	return r.lat[i]
}

// CPUPerOp returns the CPU time per successful operation, or 0.
func (r *Result) CPUPerOp() time.Duration {
	if r.Ops == 0 {
		return 0
	}
	return r.CPU / time.Duration(r.Ops)
}

// Add merges o into r: operations and wall time add up.
func (r *Result) Add(o Result) {
	r.Ops += o.Ops
	r.Errors += o.Errors
	if r.FirstErr == nil {
		r.FirstErr = o.FirstErr
	}
	r.Elapsed += o.Elapsed
	r.CPU += o.CPU
	r.lat = append(r.lat, o.lat...)
	r.sorted = false
}

// RunFor runs op on callers concurrent workers, each calling it in a loop,
// until d has passed.
func RunFor(ctx context.Context, callers int, d time.Duration, op Op) Result {
	deadline := time.Now().Add(d)
	return run(ctx, callers, op, func(int64) bool { return time.Now().Before(deadline) })
}

// RunN runs op n times in total on callers concurrent workers.
func RunN(ctx context.Context, callers, n int, op Op) Result {
	return run(ctx, callers, op, func(k int64) bool { return k <= int64(n) })
}

func run(ctx context.Context, callers int, op Op, more func(k int64) bool) Result {
	var (
		next   atomic.Int64
		mu     sync.Mutex
		total  Result
		wg     sync.WaitGroup
		starts sync.WaitGroup
		gate   = make(chan struct{})
	)
	for w := range callers {
		wg.Add(1)
		starts.Add(1)
		go func() {
			defer wg.Done()
			var mine Result
			lat := make([]time.Duration, 0, 1024)
			starts.Done()
			<-gate
			for seq := 0; more(next.Add(1)) && ctx.Err() == nil; seq++ {
				t0 := time.Now()
				err := op(ctx, w, seq)
				if err != nil {
					mine.Errors++
					if mine.FirstErr == nil {
						mine.FirstErr = err
					}
					continue
				}
				lat = append(lat, time.Since(t0))
				mine.Ops++
			}
			mine.lat = lat
			mu.Lock()
			total.Add(mine)
			mu.Unlock()
		}()
	}
	starts.Wait()
	t0 := time.Now()
	close(gate)
	wg.Wait()
	total.Elapsed = time.Since(t0)
	return total
}
