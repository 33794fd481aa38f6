package cluster

import (
	"context"
	"fmt"
	"io"

	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/internal/errs"
)

// The errors of outage recovery and restore, re-exported from consensus.
var (
	// ErrDataDirInUse is [consensus.ErrDataDirInUse]: Recover found the data
	// directory open by a running server.
	ErrDataDirInUse = consensus.ErrDataDirInUse
	// ErrNoState is [consensus.ErrNoState]: Recover found no Raft state to
	// recover.
	ErrNoState = consensus.ErrNoState
	// ErrBadSnapshot is [consensus.ErrBadSnapshot]: Restore refused a
	// truncated, corrupted or foreign snapshot before changing anything.
	ErrBadSnapshot = consensus.ErrBadSnapshot
)

// Recover rewrites the Raft configuration in the data directory of a stopped
// server after its cluster lost quorum for good: too many voters will never
// return for the rest to elect a leader. cfg is the configuration the server
// runs with (Name, Consensus.DataDir, Consensus.LogStore and a fresh
// Consensus.StateMachine are used); servers is the new set of voters, which
// must include cfg.Name with the Raft address it will have. Run it with the
// same servers on every survivor, start them, then start fresh servers that
// join through gossip: the leader adds them as usual.
//
// Recover never runs on its own. It refuses, changing nothing, when the
// directory is in use ([ErrDataDirInUse]), holds no state ([ErrNoState]) or
// cannot be read. See [consensus.Recover].
func Recover(cfg Config, servers []consensus.Server) error {
	if cfg.Consensus == nil {
		return errs.Invalid("Consensus", nil, "required: only a server has Raft state to recover")
	}
	cfg = cfg.clone()
	if err := cfg.validate(); err != nil {
		return err
	}
	sc := cfg.Consensus.resolve(cfg.Profile, cfg.Tuning)
	n := &Node{cfg: cfg, server: &sc}
	if err := consensus.Recover(n.consensusConfig(), servers); err != nil {
		return errs.Rename(err, consensusField)
	}
	return nil
}

// Snapshot writes a consistent, checksummed snapshot of the state machine to
// w, holding every write acknowledged before the call. Only a server has
// one. See [consensus.Node.Snapshot] for the format and [consensus.VerifySnapshot]
// to check a file.
func (n *Node) Snapshot(ctx context.Context, w io.Writer) error {
	if n.cons == nil {
		return fmt.Errorf("%w: a client holds no state to snapshot", ErrNotServer)
	}
	if _, err := n.membership(); err != nil {
		return err
	}
	return n.cons.Snapshot(ctx, w)
}

// Restore replaces the state of the whole cluster with a snapshot written
// by [Node.Snapshot], through Raft: every server ends with the snapshot's
// contents, and writes made since it was taken are gone. Any server may be
// called: a follower forwards the stream to the leader. The whole stream is
// checked before anything changes; a bad one is refused with an error
// matching [ErrBadSnapshot]. See [consensus.Node.Restore].
func (n *Node) Restore(ctx context.Context, r io.Reader) error {
	if n.cons == nil {
		return fmt.Errorf("%w: restore on a server", ErrNotServer)
	}
	if _, err := n.membership(); err != nil {
		return err
	}
	return n.cons.Restore(ctx, r)
}
