package consensus

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// ReadLevel is the consistency a read asks for. The zero value is
// [Linearizable].
type ReadLevel uint8

const (
	// Linearizable reads reflect every write acknowledged before the read
	// began, on any server. The leader confirms it still leads with a round
	// of heartbeats to a quorum (one round serves every read waiting at that
	// moment) and hands back its commit index; the reading server waits until
	// its state machine has applied that index. A new leader serves these only
	// after committing an entry of its own term.
	Linearizable ReadLevel = iota
	// Leader reads run on the current leader's state machine without a
	// quorum round: cheaper, but a leader cut off from the others may serve
	// stale data until its lease runs out (LeaderLeaseTimeout).
	Leader
	// Stale reads run on the local state machine, whatever its lag. On a
	// follower, Config.MaxStaleness (when set) bounds the time since the last
	// contact with a leader.
	Stale
)

func (l ReadLevel) valid() bool { return l <= Stale }

// String returns the level's name.
func (l ReadLevel) String() string {
	switch l {
	case Linearizable:
		return "linearizable"
	case Leader:
		return "leader"
	case Stale:
		return "stale"
	default:
		return "level(" + strconv.Itoa(int(l)) + ")"
	}
}

// Read calls fn with this node's state machine once it is consistent at
// level. fn runs on the caller's goroutine concurrently with Apply, so the
// state machine must make its reads safe against its writes.
//
// At [Leader] level a follower returns a [*NotLeaderError]: use [Node.Query]
// to have the leader answer. At [Linearizable] level a follower asks the
// leader for the read index (retrying across leader changes until ctx ends,
// then [ErrNoLeader]) and waits for its own state machine to catch up.
func (n *Node) Read(ctx context.Context, level ReadLevel, fn func(StateMachine) error) error {
	if err := n.usable(); err != nil {
		return err
	}
	start := time.Now()
	err := n.readyFor(ctx, level, false)
	if err == nil {
		err = fn(n.cfg.StateMachine)
	}
	n.met.readDone(start, level, err)
	return err
}

// Query answers q with the state machine's [Querier] at level. Unlike Read it
// also serves [Leader] level on a follower, by forwarding q to the leader.
// An error from Query itself comes back as a [*StateMachineError].
func (n *Node) Query(ctx context.Context, level ReadLevel, q []byte) ([]byte, error) {
	if err := n.usable(); err != nil {
		return nil, err
	}
	if len(q) > n.cfg.Tuning.MaxMessageSize {
		return nil, fmt.Errorf("%w: query of %d bytes, MaxMessageSize is %d", ErrTooLarge, len(q), n.cfg.Tuning.MaxMessageSize)
	}
	start := time.Now()
	res, err := n.query(ctx, level, q, true)
	n.met.readDone(start, level, err)
	return res, err
}

// query serves a query, forwarding a Leader-level one when mayForward.
func (n *Node) query(ctx context.Context, level ReadLevel, q []byte, mayForward bool) ([]byte, error) {
	if n.querier == nil {
		return nil, ErrNoQuerier
	}
	if level != Leader || n.raft.State() == raft.Leader || !mayForward {
		if err := n.readyFor(ctx, level, true); err != nil {
			return nil, err
		}
		return n.localQuery(q)
	}
	var res []byte
	err := retryLoop(ctx, n.closing, n.lead.changedCh, func() error {
		if n.raft.State() == raft.Leader {
			var err error
			res, err = n.localQuery(q)
			return err
		}
		addr, err := n.leaderAddr()
		if err != nil {
			return err
		}
		res, err = n.remote.query(ctx, addr, true, Leader, q)
		return err
	})
	return res, err
}

func (n *Node) localQuery(q []byte) ([]byte, error) {
	res, err := n.querier.Query(q)
	if err != nil {
		return nil, &StateMachineError{Err: err}
	}
	return res, nil
}

// readyFor returns once the local state machine may serve a read at level.
// At Leader level it fails with a NotLeaderError off the leader (retryable
// when wrapped says so, for forwarded queries).
func (n *Node) readyFor(ctx context.Context, level ReadLevel, wrapped bool) error {
	switch level {
	case Stale:
		return n.checkStaleness()
	case Leader:
		if n.raft.State() != raft.Leader {
			if wrapped {
				return retryable(n.notLeader())
			}
			return n.notLeader()
		}
		return nil
	case Linearizable:
		index, err := n.readIndex(ctx)
		if err != nil {
			return err
		}
		return n.fsm.waitApplied(ctx, index, n.closing)
	default:
		return fmt.Errorf("consensus: unknown read level %v", level)
	}
}

// checkStaleness enforces Config.MaxStaleness for a Stale read.
func (n *Node) checkStaleness() error {
	if n.cfg.Tuning.MaxStaleness == 0 || n.raft.State() == raft.Leader {
		return nil
	}
	last := n.raft.LastContact()
	if last.IsZero() {
		return fmt.Errorf("%w: never heard from a leader", ErrStale)
	}
	if age := time.Since(last); age > n.cfg.Tuning.MaxStaleness {
		return fmt.Errorf("%w: last leader contact %v ago", ErrStale, age.Round(time.Millisecond))
	}
	return nil
}

// readIndex returns an index such that the state machine, once it has
// applied it, reflects every write acknowledged before the call. It asks the
// leader (itself, or over RPC) and retries across leader changes.
func (n *Node) readIndex(ctx context.Context) (uint64, error) {
	var index uint64
	err := retryLoop(ctx, n.closing, n.lead.changedCh, func() error {
		var err error
		if n.raft.State() == raft.Leader {
			index, err = n.reads.get(ctx, n.closing)
			return err
		}
		addr, err := n.leaderAddr()
		if err != nil {
			return err
		}
		index, err = n.remote.readIndex(ctx, addr)
		return err
	})
	return index, err
}

// confirmLeadership is one ReadIndex round on the leader: it takes the
// commit index, then confirms with a quorum that this node still leads in
// the same term. It refuses until the node has committed an entry of its
// own term (before that its commit index may lag the previous leader's).
func (n *Node) confirmLeadership() (uint64, error) {
	term := n.raft.CurrentTerm()
	if n.raft.State() != raft.Leader {
		return 0, retryable(n.notLeader())
	}
	if n.lead.readyTerm.Load() != term {
		return 0, retryable(errLeaderNotReady)
	}
	index := n.raft.CommitIndex()
	if err := n.raft.VerifyLeader().Error(); err != nil {
		if err == raft.ErrRaftShutdown {
			return 0, ErrClosed
		}
		return 0, retryable(n.notLeader())
	}
	if n.raft.CurrentTerm() != term {
		return 0, retryable(n.notLeader())
	}
	return index, nil
}

// readIndexer batches ReadIndex requests on the leader: every request that
// arrives while a round is running joins the next round, so one quorum round
// serves them all.
type readIndexer struct {
	confirm func() (uint64, error)
	wake    chan struct{} // capacity 1: a round is wanted

	mu      sync.Mutex // guards pending
	pending *readRound
}

// readRound is one batch; index and err are set before done is closed.
type readRound struct {
	done    chan struct{}
	readers int // guarded by readIndexer.mu while the round is pending
	index   uint64
	err     error
}

func newReadIndexer(confirm func() (uint64, error)) *readIndexer {
	return &readIndexer{confirm: confirm, wake: make(chan struct{}, 1)}
}

// get joins the next round and waits for its result.
func (ri *readIndexer) get(ctx context.Context, stop <-chan struct{}) (uint64, error) {
	ri.mu.Lock()
	round := ri.pending
	if round == nil {
		round = &readRound{done: make(chan struct{})}
		ri.pending = round
	}
	round.readers++
	ri.mu.Unlock()
	select {
	case ri.wake <- struct{}{}:
	default:
	}
	select {
	case <-round.done:
		return round.index, round.err
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-stop:
		return 0, ErrClosed
	}
}

// run serves rounds until stop is closed.
func (ri *readIndexer) run(stop <-chan struct{}) {
	for {
		select {
		case <-ri.wake:
		case <-stop:
			return
		}
		ri.mu.Lock()
		round := ri.pending
		ri.pending = nil
		ri.mu.Unlock()
		if round == nil {
			continue
		}
		round.index, round.err = ri.confirm()
		close(round.done)
	}
}
