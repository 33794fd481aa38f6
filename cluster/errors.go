package cluster

import "errors"

var (
	// ErrBootstrapMismatch reports servers that disagree about BootstrapExpect.
	// Such a cluster does not bootstrap until the configurations agree.
	ErrBootstrapMismatch = errors.New("cluster: servers disagree about BootstrapExpect")
)
