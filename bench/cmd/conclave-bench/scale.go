package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/conclave-go/conclave/bench"
)

// scaleFlags configure the scale suite.
type scaleFlags struct {
	n          []int
	configs    []gossipConfig
	trials     int
	healTrials int
	pause      time.Duration
	idle       time.Duration
	idleAfter  time.Duration
}

// register defines the suite's flags; it returns the list flags, parsed
// after flag.Parse.
func (f *scaleFlags) register() (n, configs *string) {
	n = flag.String("scale-n", "100,250,500", "cluster sizes for the scale suite (each at least 10)")
	configs = flag.String("scale-configs", "lan,memberlist", "membership configurations for the scale suite (as -gossip-configs)")
	flag.IntVar(&f.trials, "scale-trials", 3, "killed members measured per cluster in the scale suite")
	flag.IntVar(&f.healTrials, "scale-heal-trials", 1, "half/half partitions healed per cluster in the scale suite")
	flag.DurationVar(&f.pause, "scale-pause", time.Second, "how long the scale suite holds the traffic of a tenth of the members")
	flag.DurationVar(&f.idle, "scale-idle", 10*time.Second, "window over which the scale suite measures idle traffic")
	flag.DurationVar(&f.idleAfter, "scale-idle-after", 15*time.Second, "how long after formation and the join syncs the scale suite starts measuring idle traffic")
	return n, configs
}

// scale runs the membership-at-scale scenario for every size and
// configuration, the configurations of one size one after the other.
func scale(ctx context.Context, o options, _ string) error {
	f := o.scale
	fmt.Fprintf(o.out, "\n## Membership at scale: N members started within 1 s on loopback (membership only; %d kills, %d heals, a tenth paused for %v)\n\n",
		f.trials, f.healTrials, f.pause)
	fmt.Fprintln(o.out, "| config | N | started in | formation | detect p50 | detect max | paused | failure events of paused | of others | heal p50 | heal max | bytes/s per member | datagrams/s per member | CPU at idle | goroutines | load average |")
	fmt.Fprintln(o.out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, n := range f.n {
		for _, g := range f.configs {
			r, err := bench.Scale(ctx, bench.ScaleOptions{
				N: n, Profile: g.profile, Timing: g.timing, MemberlistDefaults: g.defaults, Trials: f.trials, HealTrials: f.healTrials,
				Pause: f.pause, Idle: f.idle, IdleAfter: f.idleAfter, Logger: o.log,
			})
			fmt.Fprintf(o.out, "| %s | %d | %s | %s | %s | %s | %d | %d | %d | %s | %s | %.0f | %.1f | %.2f cores | %d | %s |\n",
				g.name, n, bench.FmtDur(r.StartedIn), orDash(r.Formation),
				orDash(r.Detection.Quantile(0.5)), orDash(r.Detection.Max()),
				r.Paused, r.PausedFailures, r.OtherFailures,
				orDash(r.Heal.Quantile(0.5)), orDash(r.Heal.Max()),
				r.IdleBytes, r.IdlePackets, r.IdleCPU, r.Goroutines, loadavg())
			if err != nil {
				// A step that did not finish within its bound ends the
				// run of this size and configuration, not the suite.
				fmt.Fprintf(o.out, "|  | | _%s N=%d stopped: %v_ |\n", g.name, n, err)
			}
		}
	}
	return nil
}

// orDash formats d, or "—" for a step not measured.
func orDash(d time.Duration) string {
	if d == 0 {
		return "—"
	}
	return bench.FmtDur(d)
}

// validate reports the first flag of the suite out of range.
func (f scaleFlags) validate() error {
	for _, n := range f.n {
		if n < 10 {
			return fmt.Errorf("-scale-n: %d is below 10, the smallest size the scale suite runs", n)
		}
	}
	if f.trials < 1 || f.healTrials < 1 {
		return fmt.Errorf("-scale-trials and -scale-heal-trials must be at least 1, got %d and %d", f.trials, f.healTrials)
	}
	if f.pause <= 0 || f.idle <= 0 || f.idleAfter <= 0 {
		return fmt.Errorf("-scale-pause, -scale-idle and -scale-idle-after must be positive, got %v, %v and %v", f.pause, f.idle, f.idleAfter)
	}
	return nil
}
