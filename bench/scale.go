package bench

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/conclave-go/conclave/cluster"
	"github.com/conclave-go/conclave/membership"
)

// ScaleOptions configure the membership-at-scale scenario: N client nodes
// (gossip only) on a fault-injecting network, measured in turn for
// formation, idle traffic, false failures on pauses, detection and
// partition heal.
type ScaleOptions struct {
	// N is the number of nodes, at least 10.
	N int
	// Profile and Timing are the membership configuration, as in
	// GossipOptions.
	Profile            cluster.Profile
	Timing             *membership.Timing
	MemberlistDefaults bool
	// Trials is the number of killed members measured; zero means 3.
	Trials int
	// HealTrials is the number of partitions healed; zero means 1.
	HealTrials int
	// StartWithin is the window over which the nodes are started; zero
	// means 1 s.
	StartWithin time.Duration
	// Pause is how long the traffic of a tenth of the members is held;
	// zero means 1 s. Settle is how long failure events are then counted;
	// zero means 10 s.
	Pause, Settle time.Duration
	// Idle is the window over which idle traffic is measured; zero means
	// 10 s. IdleAfter is how long after formation (and the join syncs) it
	// starts, so that the gossip of the joins has died down; zero means
	// 15 s.
	Idle, IdleAfter time.Duration
	// Logger receives the nodes' logs; nil discards them.
	Logger *slog.Logger
}

func (o ScaleOptions) startWithin() time.Duration { return orDefault(o.StartWithin, time.Second) }

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// ScaleResult is what one scale run measured.
type ScaleResult struct {
	N int
	// StartedIn is the time from the first node's Start to the last
	// node's Start returning; Formation the time from the first Start until
	// every node listed every node alive.
	StartedIn, Formation time.Duration
	// IdleBytes and IdlePackets are the bytes (datagrams and streams) and
	// datagrams each member sent per second at idle; IdleCPU the process's
	// CPU use over that window, in cores; Goroutines the process's count.
	IdleBytes, IdlePackets, IdleCPU float64
	Goroutines                      int
	// Paused is the number of members whose traffic was held;
	// PausedFailures the failure events seen for them (summed over the
	// observers); OtherFailures those seen for other members meanwhile.
	Paused, PausedFailures, OtherFailures int
	// Detection is the time until every other live node listed a killed
	// member failed, one sample per kill.
	Detection Samples
	// Heal is the time from healing a half/half partition until every live
	// node listed every live node alive, one sample per partition.
	Heal Samples
}

// Scale runs the scenario on one cluster of o.N nodes: formation, idle
// traffic, a pause of a tenth of the members, kills, then partitions. When
// a step fails (a bound of minutes passed: the machine cannot keep up), the
// later steps are skipped and the result holds what was measured, with the
// error.
func Scale(ctx context.Context, o ScaleOptions) (ScaleResult, error) {
	res := ScaleResult{N: o.N}
	paused, victims, err := scaleRoles(o)
	if err != nil {
		return res, err
	}
	c := newScaleCluster(o)
	defer c.close()
	steps := []func(context.Context, *scaleCluster, *ScaleResult) error{
		scaleFormation, scaleIdle,
		func(ctx context.Context, c *scaleCluster, r *ScaleResult) error { return scalePause(ctx, c, r, paused) },
		func(ctx context.Context, c *scaleCluster, r *ScaleResult) error {
			return scaleDetect(ctx, c, r, victims)
		},
		scaleHeal,
	}
	for _, step := range steps {
		if err := step(ctx, c, &res); err != nil {
			return res, err
		}
		if d := c.dropped(); d > 0 {
			return res, fmt.Errorf("bench: %d membership events dropped by the subscriptions; the view is not exact", d)
		}
	}
	return res, nil
}

// scaleRoles picks the paused members (a tenth, spread over the cluster)
// and the members to kill, all outside the seeds.
func scaleRoles(o ScaleOptions) (paused, victims []int, err error) {
	if o.N < 10 {
		return nil, nil, fmt.Errorf("bench: the scale scenario needs N >= 10, got %d", o.N)
	}
	k := max(1, o.N/10)
	isPaused := map[int]bool{}
	for j := range k {
		i := scaleSeeds + j*(o.N-scaleSeeds)/k
		paused = append(paused, i)
		isPaused[i] = true
	}
	trials := orDefault(o.Trials, 3)
	for i := o.N - 1; i >= scaleSeeds && len(victims) < trials; i-- {
		if !isPaused[i] {
			victims = append(victims, i)
		}
	}
	if len(victims) < trials {
		return nil, nil, fmt.Errorf("bench: %d trials need more than %d nodes", trials, o.N)
	}
	return paused, victims, nil
}

func scaleFormation(ctx context.Context, c *scaleCluster, r *ScaleResult) error {
	t0 := time.Now()
	started, err := c.start(ctx)
	if err != nil {
		return err
	}
	r.StartedIn = started
	tctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := pollEvery(tctx, 20*time.Millisecond, func() bool { return c.view.allAlive(c.live) }); err != nil {
		return fmt.Errorf("bench: %d members never all saw each other (%s): %w", c.o.N, c.describeMissing(), err)
	}
	r.Formation = time.Since(t0)
	return nil
}

// scaleIdle lets the join syncs end and the joins' gossip die down, then
// measures what the members send.
func scaleIdle(ctx context.Context, c *scaleCluster, r *ScaleResult) error {
	t := memberProfile(c.o.Profile).Timing()
	wait(ctx, time.Duration(t.JoinSyncRounds)*t.JoinSyncInterval+orDefault(c.o.IdleAfter, 15*time.Second))
	idle := orDefault(c.o.Idle, 10*time.Second)
	s0, cpu0, t0 := c.fn.Stats(), selfCPU(), time.Now()
	wait(ctx, idle)
	s1, cpu1, el := c.fn.Stats(), selfCPU(), time.Since(t0)
	per := float64(c.o.N) * el.Seconds()
	r.IdleBytes = float64(s1.PacketBytesSent-s0.PacketBytesSent+s1.StreamBytesSent-s0.StreamBytesSent) / per
	r.IdlePackets = float64(s1.PacketsSent-s0.PacketsSent) / per
	r.IdleCPU = (cpu1 - cpu0).Seconds() / el.Seconds()
	r.Goroutines = runtime.NumGoroutine()
	return ctx.Err()
}
