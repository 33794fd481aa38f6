package consensus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/testkit"
)

// waitSeen waits until every live node's state machine has applied the
// commands in want exactly once each, and nothing else of theirs.
func (c *testCluster) waitSeen(t *testing.T, want map[string]int) {
	t.Helper()
	for i, fsm := range c.fsms {
		if c.nodes[i] == nil {
			continue
		}
		testkit.WaitFor(t, 20*time.Second, func() bool { return len(fsm.seenCounts()) >= len(want) }, "node %d applies every command", i)
		require.Equal(t, want, fsm.seenCounts(), "node %d", i)
	}
}

// Many callers on a follower: their commands travel in shared batches, each
// is applied exactly once, and each caller gets its own command's result
// (state machine errors included, wherever they fall in a batch).
func TestForwardedAppliesExactlyOnce(t *testing.T) {
	c := newCluster(t, 3)
	nd := c.nodes[c.follower()]
	ctx := testkit.Context(t, 60*time.Second)
	const callers, writes = 64, 12
	want := make(map[string]int)
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for g := range callers {
		for i := range writes {
			op := "echo"
			if (g+i)%5 == 0 {
				op = "err"
			}
			want[fmt.Sprintf("%s:%d-%d", op, g, i)] = 1
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- applyChecked(ctx, nd, g, writes)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	c.waitSeen(t, want)
}

// applyChecked applies the commands of caller g through nd and checks each
// outcome belongs to the command.
func applyChecked(ctx context.Context, nd *Node, g, writes int) error {
	for i := range writes {
		if (g+i)%5 == 0 {
			_, err := nd.Apply(ctx, fmt.Appendf(nil, "err:%d-%d", g, i))
			var sme *StateMachineError
			if !errors.As(err, &sme) || sme.Err.Error() != fmt.Sprintf("%d-%d", g, i) {
				return fmt.Errorf("caller %d write %d: got %v, want its state machine error", g, i, err)
			}
			continue
		}
		cmd := fmt.Sprintf("echo:%d-%d", g, i)
		res, err := nd.Apply(ctx, []byte(cmd))
		if err != nil || string(res) != cmd {
			return fmt.Errorf("caller %d write %d: got %q, %v", g, i, res, err)
		}
	}
	return nil
}

// Callers writing through a follower while the leader is closed under them
// get their own command's result or ErrOutcomeUnknown, never another's
// result; no command is applied twice, and every acknowledged one is applied.
func TestForwardedAppliesLeaderKilled(t *testing.T) {
	c := newCluster(t, 3)
	old := c.waitReadyLeader()
	fi := c.follower()
	nd := c.nodes[fi]
	ctx := testkit.Context(t, 60*time.Second)
	w := startWriters(ctx, 32, func(cmd string) ([]byte, error) { return nd.Apply(ctx, []byte(cmd)) })
	testkit.WaitFor(t, 20*time.Second, func() bool { return w.total.Load() >= 200 }, "writes before the kill")
	require.NoError(t, c.nodes[old].Close())
	c.nodes[old] = nil
	before := w.total.Load()
	testkit.WaitFor(t, 30*time.Second, func() bool { return w.total.Load() >= before+200 }, "writes after the kill")
	w.stopAndCheck(t, c)
}

// A forwarded write pending at a leader that vanishes (no reset reaches the
// follower) ends with ErrOutcomeUnknown soon after a new leader is elected,
// not at its deadline.
func TestForwardedApplyEndsOnLeaderChange(t *testing.T) {
	c, fn := newFaultCluster(t, 3)
	old := c.waitReadyLeader()
	fi := c.follower()
	gate := make(chan struct{})
	c.fsms[old].mu.Lock()
	c.fsms[old].gate = gate // only the old leader's state machine blocks
	c.fsms[old].mu.Unlock()
	t.Cleanup(func() { close(gate) }) // before the nodes close

	const deadline = 30 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		_, err := c.nodes[fi].Apply(ctx, []byte("block:"))
		done <- err
	}()
	// The command is committed (the followers applied it) while the old
	// leader's state machine holds it: the call is pending there.
	testkit.WaitFor(t, 10*time.Second, func() bool {
		return c.fsms[fi].applied.Load() > 0 && c.nodes[fi].Status().AppliedIndex == c.nodes[old].Status().CommitIndex
	}, "the blocked command committed")
	require.NoError(t, fn.Isolate(c.cfgs[old].Name))
	select {
	case err := <-done:
		require.ErrorIs(t, err, ErrOutcomeUnknown)
		require.NoError(t, ctx.Err(), "ended before its deadline")
		t.Logf("ended %v after the call began", time.Since(start).Round(time.Millisecond))
	case <-time.After(deadline - 5*time.Second):
		t.Fatal("the forwarded write was still pending long after the leader change")
	}
	require.NotEqual(t, old, c.waitReadyLeader())
	fn.Heal() // lets the old leader step down, so that it closes quickly
}

// writers are concurrent callers that write until stopped, each command
// once, and record what each write got.
type writers struct {
	total atomic.Int64 // writes done
	stop  chan struct{}
	wg    sync.WaitGroup

	mu       sync.Mutex // guards the fields below
	acked    map[string]bool
	unknown  int
	failures []error // outcomes that are neither the command's result nor unknown
}

// startWriters starts n callers of write, which echoes its command.
func startWriters(ctx context.Context, n int, write func(cmd string) ([]byte, error)) *writers {
	w := &writers{stop: make(chan struct{}), acked: make(map[string]bool)}
	for g := range n {
		w.wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				select {
				case <-w.stop:
					return
				default:
				}
				cmd := fmt.Sprintf("echo:%d-%d", g, i)
				res, err := write(cmd)
				w.total.Add(1)
				w.record(cmd, res, err)
			}
		})
	}
	return w
}

func (w *writers) record(cmd string, res []byte, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case err == nil && string(res) == cmd:
		w.acked[cmd] = true
	case errors.Is(err, ErrOutcomeUnknown):
		w.unknown++
	default:
		w.failures = append(w.failures, fmt.Errorf("%s: got %q, %v", cmd, res, err))
	}
}

// stopAndCheck stops the callers and checks that every write got its own
// result or an unknown outcome, and that c applied each acknowledged write
// exactly once.
func (w *writers) stopAndCheck(t *testing.T, c *testCluster) {
	t.Helper()
	close(w.stop)
	w.wg.Wait()
	require.Empty(t, w.failures)
	t.Logf("%d acknowledged, %d outcome unknown", len(w.acked), w.unknown)
	requireAppliedOnce(t, c, w.acked)
}

// requireAppliedOnce waits until every running node has applied each
// acknowledged command, and checks that no node applied any command twice.
func requireAppliedOnce(t *testing.T, c *testCluster, acked map[string]bool) {
	t.Helper()
	for i, fsm := range c.fsms {
		if c.nodes[i] == nil {
			continue
		}
		testkit.WaitFor(t, 20*time.Second, func() bool {
			seen := fsm.seenCounts()
			for cmd := range acked {
				if seen[cmd] != 1 {
					return false
				}
			}
			return true
		}, "node %d applies every acknowledged command", i)
		for cmd, n := range fsm.seenCounts() {
			require.Equal(t, 1, n, "node %d applied %s %d times", i, cmd, n)
		}
	}
}
