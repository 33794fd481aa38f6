package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/conclave-go/conclave/cluster"
	"github.com/conclave-go/conclave/internal/faultnet"
	"github.com/conclave-go/conclave/internal/netx"
)

// FailoverOptions configure the failover, leave and flapping scenarios.
type FailoverOptions struct {
	// Name labels the configuration in tables, e.g. "lan".
	Name string
	// Dir holds the data directories. Required.
	Dir string
	// Profile is the cluster's timing profile.
	Profile cluster.Profile
	// Raft, when set, replaces the profile's Raft timings.
	Raft *raft.Config
	// Trials is the number of repetitions; zero means 20.
	Trials int
	// Logger receives the nodes' logs; nil discards them.
	Logger *slog.Logger
}

// Samples is a set of measured durations.
type Samples []time.Duration

// Quantile returns the q quantile (0 to 1), or 0 when empty.
func (s Samples) Quantile(q float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	c := slices.Clone(s)
	slices.Sort(c)
	return c[min(int(q*float64(len(c))), len(c)-1)]
}

// Max returns the largest sample.
func (s Samples) Max() time.Duration {
	if len(s) == 0 {
		return 0
	}
	return slices.Max(s)
}

// faultCluster starts a 3-server cluster whose nodes each use a host of a
// fault-injecting network.
func faultCluster(ctx context.Context, o FailoverOptions) (*Conclave, *faultnet.Network, error) {
	fn := faultnet.New(1, o.Logger)
	c, err := StartConclave(ctx, ConclaveOptions{
		Dir: o.Dir, Profile: o.Profile, Raft: o.Raft, Logger: o.Logger,
		Network: func(i int) netx.Network { return fn.Host(nodeName(i)) },
	})
	if err != nil {
		_ = fn.Close()
		return nil, nil, err
	}
	if err := c.WaitVoters(ctx, c.Servers); err != nil {
		_ = c.Close()
		_ = fn.Close()
		return nil, nil, err
	}
	return c, fn, nil
}

// writer applies commands in a loop through one node and records when each
// acknowledged write started and ended.
type writer struct {
	mu     sync.Mutex
	starts []time.Time
	acks   []time.Time
	cancel context.CancelFunc
	done   chan struct{}
}

func startWriter(ctx context.Context, n *cluster.Node) *writer {
	ctx, cancel := context.WithCancel(ctx)
	w := &writer{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for seq := 0; ctx.Err() == nil; seq++ {
			start := time.Now()
			actx, acancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := n.Apply(actx, Command(uint64(seq), 64))
			acancel()
			if err != nil {
				continue
			}
			w.mu.Lock()
			w.starts = append(w.starts, start)
			w.acks = append(w.acks, time.Now())
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *writer) stop() {
	w.cancel()
	<-w.done
}

// count returns the number of acknowledged writes.
func (w *writer) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acks)
}

// firstAckStartedAfter returns the earliest acknowledgement of a write that
// started at or after t.
func (w *writer) firstAckStartedAfter(t time.Time) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var first time.Time
	for i, s := range w.starts {
		if !s.Before(t) && (first.IsZero() || w.acks[i].Before(first)) {
			first = w.acks[i]
		}
	}
	return first, !first.IsZero()
}

// longestGap returns the longest time without an acknowledgement between
// from and to: gaps that overlap the window count whole.
func (w *writer) longestGap(from, to time.Time) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	var longest time.Duration
	for i := 1; i < len(w.acks); i++ {
		a, b := w.acks[i-1], w.acks[i]
		if b.Before(from) || a.After(to) {
			continue
		}
		longest = max(longest, b.Sub(a))
	}
	return longest
}

// startProber starts a write through n every interval, each on its own
// goroutine with a 10 s deadline, so that a write stuck on a dead leader
// does not hold back the next ones. It records the writes acknowledged.
func startProber(ctx context.Context, n *cluster.Node, interval time.Duration) *writer {
	ctx, cancel := context.WithCancel(ctx)
	w := &writer{cancel: cancel, done: make(chan struct{})}
	var wg sync.WaitGroup
	go func() {
		defer close(w.done)
		defer wg.Wait()
		t := time.NewTicker(interval)
		defer t.Stop()
		for seq := 0; ; seq++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				actx, acancel := context.WithTimeout(ctx, 10*time.Second)
				defer acancel()
				if _, err := n.Apply(actx, Command(uint64(seq), 64)); err != nil {
					return
				}
				w.mu.Lock()
				w.starts = append(w.starts, start)
				w.acks = append(w.acks, time.Now())
				w.mu.Unlock()
			}()
		}
	}()
	return w
}

// waitWrites waits until w has k more acknowledged writes than now.
func (w *writer) waitWrites(ctx context.Context, k int) error {
	base := w.count()
	return poll(ctx, func() bool { return w.count() >= base+k })
}

// Failover kills the leader abruptly (its host cut off and its sockets
// closed, as when a machine vanishes; then the node is closed without
// leaving) while a follower starts a write every 5 ms, and measures the
// time from the kill to the first acknowledgement of a write started after
// it. The killed server is restarted between
// trials.
func Failover(ctx context.Context, o FailoverOptions) (Samples, error) {
	c, fn, err := faultCluster(ctx, o)
	if err != nil {
		return nil, err
	}
	defer fn.Close()
	defer c.Close()
	var out Samples
	for range trialsOf(o) {
		d, err := failoverTrial(ctx, c, fn)
		if err != nil {
			return out, err
		}
		out = append(out, d)
	}
	return out, nil
}

func trialsOf(o FailoverOptions) int {
	if o.Trials == 0 {
		return 20
	}
	return o.Trials
}

func failoverTrial(ctx context.Context, c *Conclave, fn *faultnet.Network) (time.Duration, error) {
	l, f := c.Leader(), c.Follower()
	if l < 0 || f < 0 {
		return 0, errors.New("bench: failover: no leader")
	}
	w := startProber(ctx, c.Nodes[f], 5*time.Millisecond)
	defer w.stop()
	if err := w.waitWrites(ctx, 20); err != nil {
		return 0, err
	}
	t0 := time.Now()
	_ = fn.Isolate(nodeName(l))
	fn.Host(nodeName(l)).Kill()
	closed := make(chan error, 1)
	go func() { closed <- c.Kill(l) }()
	tctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var ack time.Time
	err := poll(tctx, func() bool {
		var ok bool
		ack, ok = w.firstAckStartedAfter(t0)
		return ok
	})
	<-closed
	fn.Heal()
	if err != nil {
		return 0, fmt.Errorf("bench: failover: no write acknowledged after the kill: %w", err)
	}
	w.stop()
	rctx, rcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer rcancel()
	if err := c.Restart(rctx, l); err != nil {
		return 0, fmt.Errorf("bench: failover: restart: %w", err)
	}
	return ack.Sub(t0), nil
}

// LeaveResult is what one graceful leave of the leader measured.
type LeaveResult struct {
	Pause Samples // longest write pause seen by the writer, per trial
	Leave Samples // duration of the Leave call, per trial
}

// LeaderLeave makes the leader leave gracefully while a follower writes in a
// loop, and measures the longest pause between two acknowledged writes from
// the start of Leave until it returned. A fresh server replaces the one
// that left between trials.
func LeaderLeave(ctx context.Context, o FailoverOptions) (LeaveResult, error) {
	var res LeaveResult
	c, fn, err := faultCluster(ctx, o)
	if err != nil {
		return res, err
	}
	defer fn.Close()
	defer c.Close()
	for range trialsOf(o) {
		l, f := c.Leader(), c.Follower()
		w := startWriter(ctx, c.Nodes[f])
		if err := w.waitWrites(ctx, 20); err != nil {
			w.stop()
			return res, err
		}
		t0 := time.Now()
		lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := c.Nodes[l].Leave(lctx)
		cancel()
		t1 := time.Now()
		c.Nodes[l] = nil
		if err != nil {
			w.stop()
			return res, fmt.Errorf("bench: leave: %w", err)
		}
		// A pause still running when Leave returns ends with the next write.
		werr := w.waitWrites(ctx, 5)
		w.stop()
		if werr != nil {
			return res, werr
		}
		res.Pause = append(res.Pause, w.longestGap(t0, t1))
		res.Leave = append(res.Leave, t1.Sub(t0))
		actx, acancel := context.WithTimeout(ctx, 2*time.Minute)
		err = c.AddServer(actx)
		acancel()
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// Flapping counts leadership changes while every link delays traffic by
// delay each way, over d, with a follower writing in a loop.
func Flapping(ctx context.Context, o FailoverOptions, delay, d time.Duration) (int, error) {
	c, fn, err := faultCluster(ctx, o)
	if err != nil {
		return 0, err
	}
	defer fn.Close()
	defer c.Close()
	if err := fn.SetDelay(delay, 0); err != nil {
		return 0, err
	}
	w := startWriter(ctx, c.Nodes[c.Follower()])
	defer w.stop()
	terms := map[uint64]bool{}
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		for _, n := range c.Nodes {
			if l := n.Leader(); l.Name != "" {
				terms[l.Term] = true
			}
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return max(len(terms)-1, 0), nil
}
