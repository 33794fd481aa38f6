package cluster

import (
	"errors"

	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/internal/errs"
)

// The errors a Node returns. The lifecycle and configuration errors are the
// same values in the membership, consensus and cluster packages, and the
// errors of calls that go through Raft are consensus's own, re-exported
// here: errors.Is matches whichever package a caller names.
var (
	// ErrInvalidConfig is matched by every error New returns for a bad
	// Config: one [ConfigError] per bad field, joined.
	ErrInvalidConfig = errs.ErrInvalidConfig
	// ErrNotStarted is returned by calls that need a started node.
	ErrNotStarted = errs.ErrNotStarted
	// ErrAlreadyStarted is returned by a second Start.
	ErrAlreadyStarted = errs.ErrAlreadyStarted
	// ErrClosed is returned by calls on a closed node.
	ErrClosed = errs.ErrClosed

	// ErrNoLeader is [consensus.ErrNoLeader]: the context ended while no
	// leader could be reached; the request was not executed.
	ErrNoLeader = consensus.ErrNoLeader
	// ErrNotLeader is [consensus.ErrNotLeader].
	ErrNotLeader = consensus.ErrNotLeader
	// ErrOutcomeUnknown is [consensus.ErrOutcomeUnknown]: the request may or
	// may not have been executed.
	ErrOutcomeUnknown = consensus.ErrOutcomeUnknown
	// ErrTooLarge is [consensus.ErrTooLarge].
	ErrTooLarge = consensus.ErrTooLarge
	// ErrNoQuerier is [consensus.ErrNoQuerier].
	ErrNoQuerier = consensus.ErrNoQuerier
	// ErrStale is [consensus.ErrStale].
	ErrStale = consensus.ErrStale

	// The storage errors of Start, re-exported from consensus: the data
	// directory holds another log store ([consensus.ErrLogStoreMismatch]),
	// an unreadable one ([consensus.ErrCorruptLog]), or snapshots without
	// their log ([consensus.ErrLostLog]). Each error's text says what to do.
	ErrLogStoreMismatch = consensus.ErrLogStoreMismatch
	ErrCorruptLog       = consensus.ErrCorruptLog
	ErrLostLog          = consensus.ErrLostLog

	// ErrBootstrapMismatch reports servers that disagree about BootstrapExpect.
	// Such a cluster does not bootstrap until the configurations agree.
	ErrBootstrapMismatch = errors.New("cluster: servers disagree about BootstrapExpect")
	// ErrNotServer is returned by calls that need the local state machine
	// (Read, OnLeader's Raft view) on a client node.
	ErrNotServer = errors.New("cluster: not a server")
	// ErrNoServers is returned when a client node knows no alive server to
	// send a request to before its context ends.
	ErrNoServers = errors.New("cluster: no alive server known")
)

// ConfigError names one bad field of a [Config], what was given and what is
// allowed. It matches [ErrInvalidConfig].
type ConfigError = errs.ConfigError
