package bench

import (
	"context"
	"fmt"
	"time"
)

// scalePause holds all traffic of the paused members at once for o.Pause,
// releases it, and counts the failure events of the following o.Settle.
func scalePause(ctx context.Context, c *scaleCluster, r *ScaleResult, paused []int) error {
	isPaused := map[int]bool{}
	for _, i := range paused {
		isPaused[i] = true
	}
	before := c.view.failures()
	for _, i := range paused {
		if err := c.fn.Pause(nodeName(i)); err != nil {
			return err
		}
	}
	wait(ctx, orDefault(c.o.Pause, time.Second))
	for _, i := range paused {
		if err := c.fn.Resume(nodeName(i)); err != nil {
			return err
		}
	}
	wait(ctx, orDefault(c.o.Settle, 10*time.Second))
	after := c.view.failures()
	r.Paused = len(paused)
	for i := range after {
		k := int(after[i] - before[i])
		if isPaused[i] {
			r.PausedFailures += k
		} else {
			r.OtherFailures += k
		}
	}
	return ctx.Err()
}

// scaleDetect kills each victim in turn and measures the time until every
// other live node lists it failed. Victims stay down.
func scaleDetect(ctx context.Context, c *scaleCluster, r *ScaleResult, victims []int) error {
	for _, v := range victims {
		t0 := time.Now()
		c.kill(v)
		observers := c.liveIndices()
		tctx, cancel := context.WithTimeout(ctx, time.Minute)
		err := pollEvery(tctx, 10*time.Millisecond, func() bool {
			return c.view.seenFailed(observers, []int{v}, c.live)
		})
		cancel()
		if err != nil {
			return fmt.Errorf("bench: detection of %s among %d: %w", nodeName(v), c.o.N, err)
		}
		r.Detection = append(r.Detection, time.Since(t0))
	}
	return nil
}

// scaleHeal partitions the nodes into halves, waits until each side lists
// the other failed and then for GossipToTheDeadTime more (so that only the
// reconnect loop can heal), heals, and measures the time until every live
// node lists every live node alive.
func scaleHeal(ctx context.Context, c *scaleCluster, r *ScaleResult) error {
	var a, b []int
	var an, bn []string
	for i := range c.o.N {
		if i < c.o.N/2 {
			a, an = append(a, i), append(an, nodeName(i))
		} else {
			b, bn = append(b, i), append(bn, nodeName(i))
		}
	}
	liveA, liveB := onlyLive(a, c.live), onlyLive(b, c.live)
	dead := GossipOptions{Profile: c.o.Profile, Timing: c.o.Timing}.effectiveTiming().GossipToTheDeadTime
	for range orDefault(c.o.HealTrials, 1) {
		if err := c.fn.Partition(an, bn); err != nil {
			return err
		}
		tctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err := pollEvery(tctx, 50*time.Millisecond, func() bool {
			return c.view.seenFailed(liveA, liveB, c.live) && c.view.seenFailed(liveB, liveA, c.live)
		})
		cancel()
		if err != nil {
			return fmt.Errorf("bench: a partition of %d never detected: %w", c.o.N, err)
		}
		wait(ctx, dead+time.Second)
		t0 := time.Now()
		c.fn.Heal()
		tctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
		err = pollEvery(tctx, 20*time.Millisecond, func() bool { return c.view.allAlive(c.live) })
		cancel()
		if err != nil {
			return fmt.Errorf("bench: a partition of %d never healed: %w", c.o.N, err)
		}
		r.Heal = append(r.Heal, time.Since(t0))
	}
	return nil
}

func onlyLive(idx []int, live []bool) []int {
	var out []int
	for _, i := range idx {
		if live[i] {
			out = append(out, i)
		}
	}
	return out
}
