package consensus

import (
	"errors"
	"fmt"

	"github.com/conclave-go/conclave/internal/errs"
)

var (
	// ErrClosed is returned by calls on a closed or closing [Node] or
	// [Client]. The same value as membership.ErrClosed and
	// cluster.ErrClosed.
	ErrClosed = errs.ErrClosed
	// ErrNotStarted is returned by calls that need a started [Node].
	ErrNotStarted = errs.ErrNotStarted
	// ErrAlreadyStarted is returned by a second [Node.Start].
	ErrAlreadyStarted = errs.ErrAlreadyStarted
	// ErrInvalidConfig is matched by every error New and NewClient return
	// for a bad config: one [ConfigError] per bad field, joined.
	ErrInvalidConfig = errs.ErrInvalidConfig
	// ErrNoLeader is returned when the context ends while the group has no
	// leader this node can reach. The request was not executed.
	ErrNoLeader = errors.New("consensus: no leader")
	// ErrNotLeader reports that the call must run on the leader. Use
	// errors.As with [*NotLeaderError] to learn who the leader is.
	ErrNotLeader = errors.New("consensus: not leader")
	// ErrOutcomeUnknown is returned when a request may or may not have been
	// executed: it was handed to the leader, then leadership was lost, the
	// connection broke or the context ended before the result came back.
	// Such a request is never retried by this package; retry it only if the
	// command is idempotent (for example it carries a request ID the state
	// machine deduplicates).
	ErrOutcomeUnknown = errors.New("consensus: outcome unknown")
	// ErrAlreadyBootstrapped is returned by [Node.Bootstrap] on a node that
	// already has Raft state.
	ErrAlreadyBootstrapped = errors.New("consensus: already bootstrapped")
	// ErrTooLarge is returned for a command, query or result larger than the
	// configured MaxMessageSize.
	ErrTooLarge = errors.New("consensus: message too large")
	// ErrNoQuerier is returned by Query when the state machine does not
	// implement [Querier].
	ErrNoQuerier = errors.New("consensus: state machine does not implement Querier")
	// ErrStale is returned by a Stale read when the node has not heard from a
	// leader within Config.MaxStaleness.
	ErrStale = errors.New("consensus: state is staler than MaxStaleness")
	// ErrUnknownServer is returned by a membership change naming a server
	// that is not in the configuration.
	ErrUnknownServer = errors.New("consensus: unknown server")
	// ErrUnavailable is returned by [Client] calls that certainly did not
	// run: the server could not be reached, was closing, or had no leader.
	// They may be sent again, to the same server or another.
	ErrUnavailable = errors.New("consensus: server unavailable")
	// ErrProtocol reports a malformed message from a peer.
	ErrProtocol = errors.New("consensus: protocol error")
	// ErrLogStoreMismatch is returned by [Node.Start] when the DataDir holds
	// a log store other than the one Config.LogStore selects. The message
	// names both.
	ErrLogStoreMismatch = errors.New("consensus: data dir holds another log store")
	// ErrCorruptLog is returned by [Node.Start] when the log store cannot be
	// read: a damaged or truncated file, or an empty raft.db in a data dir
	// that held a log. The message names the file and the way to restore
	// the server.
	ErrCorruptLog = errors.New("consensus: log store unreadable")
	// ErrLostLog is returned by [Node.Start] when the log store holds no log
	// and no term while snapshots remain: the log was lost. Config.StartFresh
	// lets the server start empty instead.
	ErrLostLog = errors.New("consensus: raft log lost while snapshots remain")
)

// NotLeaderError is returned by calls that must run on the leader, with the
// leader this node knows of (empty when none is known). It matches
// [ErrNotLeader] with errors.Is.
type NotLeaderError struct {
	LeaderName string
	LeaderAddr string
}

func (e *NotLeaderError) Error() string {
	if e.LeaderName == "" {
		return "consensus: not leader (leader unknown)"
	}
	return fmt.Sprintf("consensus: not leader (leader is %s at %s)", e.LeaderName, e.LeaderAddr)
}

// Is reports whether target is [ErrNotLeader].
func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }

// StateMachineError carries an error returned by [StateMachine.Apply] or
// [Querier.Query] back to the caller. When the command ran on another server
// only the message travels: Err is then an error with the same text.
type StateMachineError struct {
	Err error
}

func (e *StateMachineError) Error() string { return "consensus: state machine: " + e.Err.Error() }

// Unwrap returns the state machine's error.
func (e *StateMachineError) Unwrap() error { return e.Err }

// ConfigError names one bad field of a [Config] or [ClientConfig], what was
// given and what is allowed. It matches [ErrInvalidConfig].
type ConfigError = errs.ConfigError

// configError returns a [ConfigError] for field given value; allowed is a
// format for args.
func configError(field string, value any, allowed string, args ...any) error {
	return errs.Invalid(field, value, allowed, args...)
}

// outcomeUnknown wraps cause so that the result matches both
// [ErrOutcomeUnknown] and cause with errors.Is.
func outcomeUnknown(cause error) error {
	if cause == nil || errors.Is(cause, ErrOutcomeUnknown) {
		if cause == nil {
			return ErrOutcomeUnknown
		}
		return cause
	}
	return fmt.Errorf("%w: %w", ErrOutcomeUnknown, cause)
}
