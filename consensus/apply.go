package consensus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Apply replicates cmd through the group and returns the state machine's
// result once the command is committed and applied on the leader. It may be
// called on any server: a follower forwards the command to the leader (one
// hop; a forwarded command is never forwarded again).
//
// Errors:
//   - a [*StateMachineError] when the state machine's Apply returned an error;
//     the command is committed all the same;
//   - [ErrNoLeader] (also matching ctx's error) when ctx ended while no
//     leader could be reached; the command did not run;
//   - [ErrOutcomeUnknown] when the command reached a leader but its result
//     did not come back (leadership lost, connection broken, ctx ended). It
//     may have been applied: retry only idempotent commands;
//   - [ErrTooLarge], [ErrClosed], [ErrNotStarted].
//
// Failures where the command certainly did not run (no leader yet, leader
// changed before it received the command, leader unreachable) are retried
// until ctx ends.
func (n *Node) Apply(ctx context.Context, cmd []byte) ([]byte, error) {
	if err := n.usable(); err != nil {
		return nil, err
	}
	if len(cmd) > n.cfg.Tuning.MaxMessageSize {
		return nil, fmt.Errorf("%w: command of %d bytes, MaxMessageSize is %d", ErrTooLarge, len(cmd), n.cfg.Tuning.MaxMessageSize)
	}
	return n.apply(ctx, cmd)
}

// apply runs applyOnce with retries.
func (n *Node) apply(ctx context.Context, cmd []byte) ([]byte, error) {
	start := time.Now()
	var res []byte
	forwarded := false
	err := retryLoop(ctx, n.closing, n.lead.changedCh, func() error {
		var err error
		forwarded = n.raft.State() != raft.Leader
		res, err = n.applyOnce(ctx, cmd, true)
		return err
	})
	n.met.applied(start, forwarded, err)
	return res, err
}

// applyOnce applies cmd locally when this node leads, or forwards it to the
// leader when mayForward.
func (n *Node) applyOnce(ctx context.Context, cmd []byte, mayForward bool) ([]byte, error) {
	if n.raft.State() == raft.Leader {
		return n.applyLocal(ctx, raft.Log{Data: cmd})
	}
	if !mayForward {
		return nil, retryable(n.notLeader())
	}
	addr, err := n.leaderAddr()
	if err != nil {
		return nil, err
	}
	return n.fwd.apply(ctx, addr, cmd)
}

// leaderAddr returns the address of the leader to forward to, or a
// retryable error when none is known.
func (n *Node) leaderAddr() (string, error) {
	addr, id := n.raft.LeaderWithID()
	if addr == "" {
		return "", retryable(errNoLeaderKnown)
	}
	if string(id) == n.cfg.Name {
		// Raft still names us while stepping down or up: wait for it to settle.
		return "", retryable(errNoLeaderKnown)
	}
	return string(addr), nil
}

// applyLocal hands an entry to raft on the leader and waits for its result.
func (n *Node) applyLocal(ctx context.Context, entry raft.Log) ([]byte, error) {
	if !n.beginInflight() {
		return nil, ErrClosed
	}
	f := n.raft.ApplyLog(entry, enqueueTimeout(ctx))
	if err := n.awaitInflight(ctx, func() { _ = f.Error() }); err != nil {
		return nil, err
	}
	return futureResult(f)
}

// awaitInflight runs wait, which waits for entries already handed to raft
// (or hands them over itself), on a goroutine that ends the in-flight
// operation the caller began (Close waits for it). It returns when wait
// does, or when ctx ends or raft shuts down first, leaving the outcome
// unknown.
func (n *Node) awaitInflight(ctx context.Context, wait func()) error {
	done := make(chan struct{})
	go func() {
		defer n.inflight.Done()
		wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return outcomeUnknown(ctx.Err())
	case <-n.raftDown:
		return outcomeUnknown(ErrClosed)
	}
}

// futureResult returns the outcome of an apply future that has completed.
func futureResult(f raft.ApplyFuture) ([]byte, error) {
	if err := f.Error(); err != nil {
		return nil, raftApplyError(err)
	}
	res, ok := f.Response().(*applyResult)
	if !ok {
		return nil, nil // a barrier entry
	}
	if res.err != nil {
		return nil, &StateMachineError{Err: res.err}
	}
	return res.data, nil
}

// applyBatchLocal hands every command to raft on the leader (raft commits
// the entries in groups) and waits for all of them. It returns one outcome
// per command, in order, or an error that applies to the whole batch.
func (n *Node) applyBatchLocal(ctx context.Context, cmds [][]byte) ([]batchOutcome, error) {
	if !n.beginInflight() {
		return nil, ErrClosed
	}
	futures := make([]raft.ApplyFuture, len(cmds))
	err := n.awaitInflight(ctx, func() {
		n.submitAll(futures, cmds, enqueueTimeout(ctx))
		for _, f := range futures {
			_ = f.Error()
		}
	})
	if err != nil {
		return nil, err
	}
	out := make([]batchOutcome, len(futures))
	for i, f := range futures {
		out[i].data, out[i].err = futureResult(f)
	}
	return out, nil
}

// submitAll hands cmds to raft, setting futures[i] for cmds[i]. When raft
// buffers its apply channel one goroutine fills it and raft commits the
// entries in groups; on an unbuffered channel raft would take one entry per
// disk write from a single sender, so each command gets a goroutine.
func (n *Node) submitAll(futures []raft.ApplyFuture, cmds [][]byte, timeout time.Duration) {
	if n.batchApplyCh {
		for i, cmd := range cmds {
			futures[i] = n.raft.ApplyLog(raft.Log{Data: cmd}, timeout)
		}
		return
	}
	var wg sync.WaitGroup
	wg.Add(len(cmds))
	for i, cmd := range cmds {
		go func() {
			defer wg.Done()
			futures[i] = n.raft.ApplyLog(raft.Log{Data: cmd}, timeout)
		}()
	}
	wg.Wait()
}

// batchOutcome is the result of one command of a batch.
type batchOutcome struct {
	data []byte
	err  error
}

// enqueueTimeout bounds raft's wait to accept an entry by ctx's deadline.
func enqueueTimeout(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return max(time.Until(dl), time.Millisecond)
	}
	return 0
}

// raftApplyError classifies an error from raft's Apply or membership futures.
func raftApplyError(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress),
		errors.Is(err, raft.ErrEnqueueTimeout):
		// Refused before it was appended to the log.
		return retryable(&NotLeaderError{})
	case errors.Is(err, raft.ErrRaftShutdown):
		return outcomeUnknown(ErrClosed)
	default:
		// ErrLeadershipLost and storage failures: it may have been appended
		// and may yet commit.
		return outcomeUnknown(err)
	}
}

// notLeader returns a NotLeaderError naming the leader this node knows of.
func (n *Node) notLeader() *NotLeaderError {
	addr, id := n.raft.LeaderWithID()
	return &NotLeaderError{LeaderName: string(id), LeaderAddr: string(addr)}
}
