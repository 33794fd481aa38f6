package bench

import (
	"context"
	"fmt"
	"time"
)

// CloseResult is what one Close of the leader (a shutdown without leaving,
// the path SIGTERM takes) measured.
type CloseResult struct {
	Pause Samples // longest write pause seen by the writer, per trial
	Close Samples // duration of the Close call, per trial
}

// LeaderClose closes the leader while a follower writes in a loop, and
// measures the longest pause between two acknowledged writes from the start
// of Close until the writer's next writes after it returned. The closed
// server restarts on its data dir between trials and the next trial waits
// until every server is a healthy voter again.
func LeaderClose(ctx context.Context, o FailoverOptions) (CloseResult, error) {
	var res CloseResult
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
		n := c.Nodes[l]
		c.Nodes[l] = nil
		t0 := time.Now()
		err := n.Close()
		t1 := time.Now()
		if err != nil {
			w.stop()
			return res, fmt.Errorf("bench: close: %w", err)
		}
		// A pause still running when Close returns ends with the next write.
		werr := w.waitWrites(ctx, 5)
		w.stop()
		if werr != nil {
			return res, werr
		}
		res.Pause = append(res.Pause, w.longestGap(t0, t1))
		res.Close = append(res.Close, t1.Sub(t0))
		rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err = c.Restart(rctx, l)
		cancel()
		if err != nil {
			return res, fmt.Errorf("bench: close: restart: %w", err)
		}
	}
	return res, nil
}
