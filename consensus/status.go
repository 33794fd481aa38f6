package consensus

import (
	"context"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
)

// State is a server's Raft role.
type State uint8

// States, in the order hashicorp/raft numbers them.
const (
	StateFollower State = iota
	StateCandidate
	StateLeader
	StateShutdown
)

func (s State) valid() bool { return s <= StateShutdown }

// String returns the state's name.
func (s State) String() string {
	switch s {
	case StateFollower:
		return "follower"
	case StateCandidate:
		return "candidate"
	case StateLeader:
		return "leader"
	case StateShutdown:
		return "shutdown"
	default:
		return "state(" + strconv.Itoa(int(s)) + ")"
	}
}

func stateOf(s raft.RaftState) State {
	switch s {
	case raft.Follower:
		return StateFollower
	case raft.Candidate:
		return StateCandidate
	case raft.Leader:
		return StateLeader
	default:
		return StateShutdown
	}
}

// Status describes one server, as returned by [Node.Status] and
// [Node.RemoteStatus].
type Status struct {
	// Name and Addr identify the server.
	Name string
	Addr string
	// State is the server's Raft role and Term its current term.
	State State
	Term  uint64
	// Leader is the leader the server knows of (zero when none).
	Leader LeaderInfo
	// LastContact is how long ago the server last heard from a leader: zero
	// on the leader itself, negative if never.
	LastContact time.Duration
	// CommitIndex is the highest log index known committed; AppliedIndex the
	// highest whose effects the state machine holds; LastLogIndex the last
	// index in the server's log; ConfigurationIndex the index of its latest
	// configuration; LastSnapshotIndex the index of its latest snapshot.
	CommitIndex        uint64
	AppliedIndex       uint64
	LastLogIndex       uint64
	ConfigurationIndex uint64
	LastSnapshotIndex  uint64
	// SnapshotFailures counts snapshots the state machine failed to take or
	// write since the node started. A growing count means the log is not
	// being compacted.
	SnapshotFailures uint64
	// HasState reports whether the server holds any Raft state (a log entry,
	// a term or a snapshot): a server without it may be bootstrapped.
	HasState bool
	// StorageError says why writes to the server's log or stable store
	// fail (a full disk, say), with what to do; "" while they succeed. A
	// server whose writes fail accepts no entries; it catches up by itself
	// once a write succeeds again.
	StorageError string
}

// Status returns this server's status. It is cheap enough to poll.
func (n *Node) Status() Status {
	r := n.raftOrNil()
	if r == nil || n.usable() != nil {
		return Status{Name: n.cfg.Name, Addr: n.Addr(), State: StateShutdown, LastContact: -1}
	}
	stats := r.Stats()
	s := Status{
		Name:              n.cfg.Name,
		Addr:              n.addr,
		State:             stateOf(r.State()),
		Term:              r.CurrentTerm(),
		Leader:            n.Leader(),
		LastContact:       -1,
		CommitIndex:       r.CommitIndex(),
		AppliedIndex:      n.fsm.appliedIndex(),
		LastLogIndex:      r.LastIndex(),
		LastSnapshotIndex: parseUint(stats["last_snapshot_index"]),
		SnapshotFailures:  n.fsm.snapshotFailures.Load(),
	}
	s.ConfigurationIndex = parseUint(stats["latest_configuration_index"])
	if s.State == StateLeader {
		s.LastContact = 0
	} else if lc := r.LastContact(); !lc.IsZero() {
		s.LastContact = time.Since(lc)
	}
	if has, err := n.store.hasState(); err == nil {
		s.HasState = has
	}
	s.StorageError = n.store.watch.problem()
	return s
}

// RemoteStatus asks the server at addr for its [Status] over RPC.
func (n *Node) RemoteStatus(ctx context.Context, addr string) (Status, error) {
	if err := n.usable(); err != nil {
		return Status{}, err
	}
	s, err := n.remote.status(ctx, addr)
	return s, unavailable(err)
}

func parseUint(s string) uint64 {
	v, _ := strconv.ParseUint(s, 10, 64)
	return v
}
