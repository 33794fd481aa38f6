package main

import (
	"io"

	"github.com/conclave-go/conclave/consensus"
)

// noState is the state machine of a group that only elects a leader: it
// keeps nothing. A service with state would replicate it here.
type noState struct{}

var _ consensus.StateMachine = noState{}

func (noState) Apply([]byte) ([]byte, error) { return nil, nil }

func (noState) Snapshot() (consensus.Snapshot, error) {
	return consensus.SnapshotFunc{WriteFunc: func(io.Writer) error { return nil }}, nil
}

func (noState) Restore(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}
