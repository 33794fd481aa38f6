package consensus

import "io"

// StateMachine is the replicated state the host plugs into a [Node]. Every
// server of a group runs its own instance and applies the same commands in the
// same order. The obligations an implementation must meet are listed in the
// package documentation under "State machine obligations".
type StateMachine interface {
	// Apply applies one committed command and returns its result. It must be
	// deterministic: the same command on the same state gives the same new
	// state and the same result on every server. The returned error is the
	// state machine's own verdict on the command (for example "key not found");
	// it is delivered to the caller of [Node.Apply] wrapped in a
	// [*StateMachineError] and does not stop replication. Apply is never called
	// concurrently with itself, Snapshot or Restore.
	Apply(cmd []byte) ([]byte, error)

	// Snapshot captures a point-in-time view of the state, cheaply: it is
	// called between two Apply calls and blocks them while it runs. The costly
	// work belongs in [Snapshot.Write], which runs concurrently with Apply.
	Snapshot() (Snapshot, error)

	// Restore replaces the whole state with the one read from r, which holds
	// exactly what a [Snapshot.Write] produced. It is streamed: read r
	// incrementally rather than buffering it. Restore is never called
	// concurrently with Apply or Snapshot.
	Restore(r io.Reader) error
}

// Snapshot is a point-in-time view of a [StateMachine] taken by
// [StateMachine.Snapshot].
type Snapshot interface {
	// Write streams the captured state to w. It runs concurrently with
	// [StateMachine.Apply], so it must read only the captured view. An error
	// abandons the snapshot; the log is kept and a later snapshot is tried.
	Write(w io.Writer) error

	// Release is called exactly once when the snapshot is no longer needed,
	// whether or not Write was called or succeeded.
	Release()
}

// Querier is implemented by a [StateMachine] that answers read-only queries
// given as bytes. [Node.Query] and [Client.Query] need it: they carry reads
// across the network, for callers that have no state machine of their own.
// Query runs concurrently with Apply and must not modify the state.
type Querier interface {
	Query(q []byte) ([]byte, error)
}

// SnapshotFunc adapts two functions to the [Snapshot] interface. Release may
// be nil.
type SnapshotFunc struct {
	WriteFunc   func(w io.Writer) error
	ReleaseFunc func()
}

// Write calls s.WriteFunc.
func (s SnapshotFunc) Write(w io.Writer) error { return s.WriteFunc(w) }

// Release calls s.ReleaseFunc when it is set.
func (s SnapshotFunc) Release() {
	if s.ReleaseFunc != nil {
		s.ReleaseFunc()
	}
}
