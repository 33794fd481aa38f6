package consensus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/raft"
)

// Snapshot writes a consistent snapshot of the state machine to w: the state
// as of one Raft index, with that index, its term and a checksum (the format
// is described in backup.go; [VerifySnapshot] checks it). The snapshot holds
// every write acknowledged before the call: the node first waits, as a
// [Linearizable] read does, until its state machine has applied them. It is
// streamed from raft's snapshot store, so the node takes a snapshot first
// (which also compacts its log) unless the newest one is current.
func (n *Node) Snapshot(ctx context.Context, w io.Writer) error {
	if w == nil {
		return errors.New("consensus: snapshot: nil writer")
	}
	if err := n.Read(ctx, Linearizable, func(StateMachine) error { return nil }); err != nil {
		return fmt.Errorf("consensus: snapshot: %w", err)
	}
	meta, rc, err := n.openSnapshot(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()
	if _, err := readSnapshotHeader(rc); err != nil {
		return err
	}
	info := SnapshotInfo{Index: meta.Index, Term: meta.Term, Size: meta.Size - int64(snapshotHeaderSize)}
	if err := writeBackup(w, info, ctxReader{ctx, rc}); err != nil {
		return fmt.Errorf("consensus: snapshot: %w", err)
	}
	return nil
}

// openSnapshot takes a snapshot, or finds the newest one when nothing was
// applied since it, and opens it.
func (n *Node) openSnapshot(ctx context.Context) (*raft.SnapshotMeta, io.ReadCloser, error) {
	if !n.beginInflight() {
		return nil, nil, ErrClosed
	}
	f := n.raft.Snapshot()
	if err := n.awaitInflight(ctx, func() { _ = f.Error() }); err != nil {
		return nil, nil, fmt.Errorf("consensus: snapshot: %w", err)
	}
	err := f.Error()
	if err == nil {
		meta, rc, err := f.Open()
		if err != nil {
			return nil, nil, fmt.Errorf("consensus: snapshot: open: %w", err)
		}
		return meta, rc, nil
	}
	if !errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return nil, nil, fmt.Errorf("consensus: snapshot: %w", err)
	}
	snaps, err := n.store.snaps.List()
	if err != nil {
		return nil, nil, fmt.Errorf("consensus: snapshot: list: %w", err)
	}
	if len(snaps) == 0 {
		return nil, nil, errors.New("consensus: snapshot: raft reports nothing new to snapshot, yet holds no snapshot")
	}
	meta, rc, err := n.store.snaps.Open(snaps[0].ID)
	if err != nil {
		return nil, nil, fmt.Errorf("consensus: snapshot: open: %w", err)
	}
	return meta, rc, nil
}

// Restore replaces the state of the whole group with the snapshot read from
// r, written by [Node.Snapshot] on this group or another. It runs on the
// leader: a follower forwards the stream to it over the node's port.
//
// The leader first copies the stream to a temporary file in its DataDir
// (the system's temporary directory when InMemory) and checks it in full; a
// stream that is truncated, corrupted or of another format is refused with
// an error matching [ErrBadSnapshot] before anything changes. It then
// installs the snapshot through raft (hashicorp/raft's Restore): followers
// receive it as they would any snapshot, and Restore returns once a quorum
// holds it and every server has been asked to apply one more entry. The
// restored state replaces all state, including writes made after the
// snapshot was taken; writes in flight on the leader are aborted. The state
// machine's Restore must accept any payload its Snapshot.Write produced:
// raft stops the process when restoring an intact snapshot fails.
//
// ctx bounds the copy and the wait for raft to take the snapshot; once raft
// has it, Restore waits for the outcome. When leadership changes while the
// stream is forwarded, Restore returns a [*NotLeaderError]: r is consumed,
// so the caller sends the snapshot again.
func (n *Node) Restore(ctx context.Context, r io.Reader) error {
	if r == nil {
		return errors.New("consensus: restore: nil reader")
	}
	if err := n.usable(); err != nil {
		return err
	}
	if n.raft.State() != raft.Leader {
		return n.forwardRestore(ctx, r)
	}
	return n.restoreLocal(ctx, r)
}

// restoreLocal restores r on this node, which must lead.
func (n *Node) restoreLocal(ctx context.Context, r io.Reader) error {
	if n.raft.State() != raft.Leader {
		return n.notLeader()
	}
	spool, info, err := n.spoolSnapshot(ctx, r)
	if err != nil {
		return err
	}
	defer func() {
		_ = spool.Close()
		_ = os.Remove(spool.Name())
	}()
	if err := ctx.Err(); err != nil {
		return err
	}
	hdr := innerHeader(info.Index)
	meta := &raft.SnapshotMeta{
		Version: raft.SnapshotVersionMax,
		Index:   info.Index,
		Term:    info.Term,
		Size:    int64(len(hdr)) + info.Size,
	}
	err = retryLoop(ctx, n.closing, nil, func() error {
		if _, err := spool.Seek(0, io.SeekStart); err != nil {
			return err
		}
		if !n.beginInflight() {
			return ErrClosed
		}
		err := n.raft.Restore(meta, io.MultiReader(bytes.NewReader(hdr), spool), timeoutOf(ctx))
		n.inflight.Done()
		if err != nil && strings.HasPrefix(err.Error(), raftRestoreBusy) {
			return retryable(err)
		}
		return err
	})
	switch {
	case errors.Is(err, raft.ErrNotLeader):
		return fmt.Errorf("consensus: restore: %w", n.notLeader())
	case errors.Is(err, raft.ErrLeadershipLost):
		// The snapshot may be installed here and not yet on a quorum.
		return fmt.Errorf("consensus: restore: %w", outcomeUnknown(err))
	case err != nil:
		return fmt.Errorf("consensus: restore: %w", err)
	}
	n.logger.Info("restored a snapshot", "index", info.Index, "term", info.Term, "bytes", info.Size)
	// Raft applies the no-op it committed after the snapshot without the
	// state machine: one barrier entry moves every server's applied index
	// past the restored snapshot, so reads there wait for it.
	if _, err := n.applyLocal(ctx, raft.Log{Extensions: []byte(barrierExtension)}); err != nil {
		return fmt.Errorf("consensus: restore: the snapshot is installed; the barrier that follows it failed: %w", err)
	}
	return nil
}

// raftRestoreBusy starts the error raft's Restore returns, before it reads
// anything, while a configuration change is not yet committed (as just
// after an election). Raft v1.7.3 has no sentinel for it; it passes once the
// entry commits, so Restore tries again.
const raftRestoreBusy = "cannot restore snapshot now"

// spoolSnapshot copies r to a temporary file, checking it; the file is
// removed unless it is returned.
func (n *Node) spoolSnapshot(ctx context.Context, r io.Reader) (*os.File, SnapshotInfo, error) {
	dir := n.cfg.DataDir
	if n.cfg.InMemory {
		dir = os.TempDir()
	}
	f, err := os.CreateTemp(dir, "restore-*.tmp")
	if err != nil {
		return nil, SnapshotInfo{}, fmt.Errorf("consensus: restore: %w", err)
	}
	info, err := readBackup(ctxReader{ctx, r}, f)
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		_ = f.Close()
		_ = os.Remove(f.Name())
		if errors.Is(err, ErrBadSnapshot) || errors.Is(err, ctx.Err()) {
			return nil, info, err
		}
		return nil, info, fmt.Errorf("consensus: restore: %w", err)
	}
	return f, info, nil
}

// ctxReader fails reads once ctx has ended.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// timeoutOf returns the time left before ctx's deadline, or 0 (no limit).
func timeoutOf(ctx context.Context) time.Duration {
	d, ok := ctx.Deadline()
	if !ok {
		return 0
	}
	return max(time.Until(d), time.Millisecond)
}
