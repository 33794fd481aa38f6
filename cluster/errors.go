package cluster

import "errors"

var (
	// ErrInvalidConfig wraps every configuration error from New; the message
	// names the field and what is allowed.
	ErrInvalidConfig = errors.New("cluster: invalid config")
	// ErrBootstrapMismatch reports servers that disagree about BootstrapExpect.
	// Such a cluster does not bootstrap until the configurations agree.
	ErrBootstrapMismatch = errors.New("cluster: servers disagree about BootstrapExpect")
	// ErrNotStarted is returned by calls that need a started node.
	ErrNotStarted = errors.New("cluster: not started")
	// ErrAlreadyStarted is returned by a second Start.
	ErrAlreadyStarted = errors.New("cluster: already started")
	// ErrClosed is returned by calls on a closed node.
	ErrClosed = errors.New("cluster: closed")
	// ErrNotServer is returned by calls that need the local state machine
	// (Read, OnLeader's Raft view) on a client node.
	ErrNotServer = errors.New("cluster: not a server")
	// ErrNoServers is returned when a client node knows no alive server to
	// send a request to before its context ends.
	ErrNoServers = errors.New("cluster: no alive server known")
)
