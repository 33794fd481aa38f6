package clustertest

import (
	"errors"

	"github.com/conclave-go/conclave/cluster"
)

var (
	// ErrClosed is returned by calls on a closed [Cluster]. It is
	// cluster.ErrClosed, the value every Conclave package uses.
	ErrClosed = cluster.ErrClosed
	// ErrBadIndex is returned for a node index outside [0, Len()).
	ErrBadIndex = errors.New("clustertest: node index out of range")
	// ErrNotRunning is returned by Kill, Stop, Pause and friends on a node
	// that is down (killed or stopped).
	ErrNotRunning = errors.New("clustertest: node not running")
	// ErrRunning is returned by Restart on a node that is still running.
	ErrRunning = errors.New("clustertest: node still running")
	// ErrTimeout is returned by the Wait methods when their condition did
	// not hold within the cluster's timeout. The message says what was last
	// seen.
	ErrTimeout = errors.New("clustertest: timed out")
	// ErrHung reports a node whose Close or Leave did not return within the
	// cluster's timeout: a bug in the node. The message names a file with a
	// dump of every goroutine.
	ErrHung = errors.New("clustertest: node did not stop")
	// ErrInvariant reports a broken safety invariant, such as two leaders
	// in one term.
	ErrInvariant = errors.New("clustertest: invariant violated")
)
