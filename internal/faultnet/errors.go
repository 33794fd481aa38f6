package faultnet

import "errors"

var (
	// ErrClosed is returned by every operation of a [Host] once its [Network]
	// has been closed.
	ErrClosed = errors.New("faultnet: network closed")

	// ErrUnreachable is the cause of a dial across a link that is cut in either
	// direction (by [Network.Cut], [Network.Isolate] or [Network.Partition]).
	// The dial error is a *net.OpError whose Timeout method reports true, like a
	// connection attempt whose SYN was never answered; errors.Is(err,
	// ErrUnreachable) also holds.
	ErrUnreachable = errors.New("faultnet: host unreachable")

	// ErrKilled is returned by Listen, ListenPacket or Dial when [Host.Kill]
	// ran while the call was in progress; the new socket has been closed.
	ErrKilled = errors.New("faultnet: host killed")
)

// unreachableError is the cause of a refused dial. It behaves like a
// connection timeout so that callers which only inspect net.Error see what a
// real partition produces.
type unreachableError struct{}

func (unreachableError) Error() string { return ErrUnreachable.Error() }

// Timeout reports true: a dial across a cut link is a connection timeout.
func (unreachableError) Timeout() bool { return true }

// Temporary reports true: the link may heal.
func (unreachableError) Temporary() bool { return true }

// Is makes errors.Is(err, ErrUnreachable) hold.
func (unreachableError) Is(target error) bool { return target == ErrUnreachable }
