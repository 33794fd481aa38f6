// Package consensus runs one Raft group (hashicorp/raft with raft-boltdb/v2
// storage) that replicates the host's [StateMachine] across a static set of
// servers. It knows nothing of gossip: package cluster drives it from
// membership, and a service with a fixed peer list can use it directly.
//
// Each [Node] listens on one TCP port. The first byte of every connection
// selects Raft's transport or Conclave's RPC, and optional mutual TLS wraps
// both. Over that RPC a follower forwards writes to the leader, asks it for
// read indexes, and forwards membership changes, so every call works on any
// server. A [Client] sends writes and queries from processes that hold no
// state machine.
//
// # Usage
//
// Three servers with static peers, each in its own process (here, one of
// them):
//
//	node, err := consensus.New(consensus.Config{ // zero fields mean defaults
//		Name:         "node-1",
//		BindAddr:     "10.0.0.1:7950",
//		DataDir:      "/var/lib/app/raft",
//		StateMachine: kv, // the host's StateMachine
//	})
//	if err != nil { ... }
//	if err := node.Start(ctx); err != nil { ... }
//	defer node.Close()
//
//	// Every server may bootstrap with the identical list; a server that
//	// already has state (a restart) skips it.
//	peers := []consensus.Server{
//		{Name: "node-1", Addr: "10.0.0.1:7950"},
//		{Name: "node-2", Addr: "10.0.0.2:7950"},
//		{Name: "node-3", Addr: "10.0.0.3:7950"},
//	}
//	if err := node.Bootstrap(ctx, peers); err != nil && !errors.Is(err, consensus.ErrAlreadyBootstrapped) { ... }
//
//	res, err := node.Apply(ctx, []byte("set x=1"))         // on any server
//	err = node.Read(ctx, consensus.Linearizable, func(sm consensus.StateMachine) error {
//		v := sm.(*KV).Get("x")                              // reflects every acknowledged write
//		...
//	})
//	node.OnLeader(func(ctx context.Context, term uint64) { runSingletonJob(ctx, term) })
//
// [Node.Close] stops a server without leaving: restarted with the same
// DataDir it returns as the same server. [Node.Leave] removes it from the
// group first.
//
// # Log store
//
// The Raft log and stable store default to raft-boltdb in DataDir/raft.db.
// Config.LogStore plugs in another store that implements [LogStore]; the
// node still puts raft's log cache in front of it and keeps snapshots in
// DataDir/snapshots. hashicorp/raft-wal, for one, took about twice the
// writes of bolt in a 3-server group on our test machine. Conclave's main
// module does not depend on it; the module
// github.com/conclave-go/conclave/raftwal offers it:
//
//	cfg.LogStore = raftwal.LogStore(nil) // raft-wal in DataDir/wal
//
// A DataDir keeps the store it was created with: its name is recorded in
// DataDir/logstore, and starting the directory with another store fails
// with [ErrLogStoreMismatch]. To change a server's store, stop it, move its
// log and stable store with [MigrateLogStore] (offline; snapshots stay as
// they are; it refuses a directory a node runs on) and start it with the
// new store: it keeps its seat, its term and its vote. Do it one server at
// a time.
//
// # State machine obligations
//
//  1. Apply must be deterministic: given the same state and command, every
//     server must reach the same state and return the same result. No
//     clocks, randomness or map iteration order in decisions.
//  2. An error returned by Apply is the state machine's answer to that
//     command, not a failure of replication: the entry stays committed, the
//     error reaches the caller inside a [*StateMachineError] (only its
//     message when the caller is on another server). A panic in Apply stops
//     the process, as it would leave this server's state unknown.
//  3. Apply, Snapshot and Restore are called from one goroutine, never
//     concurrently with each other. [Node.Read] callbacks and
//     [Querier.Query] run concurrently with Apply: protect shared state.
//  4. Snapshot must return quickly with a point-in-time view (a copy, or a
//     copy-on-write handle); [Snapshot.Write] then streams it while Apply
//     continues. If Snapshot or Write fails, that snapshot is abandoned, the
//     log is kept, the failure is counted in [Status].SnapshotFailures and
//     Raft tries again at the next SnapshotInterval. Until one succeeds the
//     log grows.
//  5. Release is called once for every snapshot returned, written or not.
//  6. Restore must discard the current state and rebuild it from the
//     stream, reading it incrementally. If it fails the server keeps no
//     usable state for that snapshot: at start-up the node falls back to an
//     older snapshot (and fails to start if none restores); while running,
//     the leader sends the snapshot again later. Restore must therefore
//     work when called again after a failure.
//
// # Consistency
//
// Writes are acknowledged once committed by a quorum and applied on the
// leader. Reads choose their level: [Linearizable], [Leader] or [Stale]. A
// write whose result was lost (leadership changed, connection broke) fails
// with [ErrOutcomeUnknown] and is never retried by this package. The term
// passed to OnLeader callbacks increases with each leadership and is a
// fencing token: a leader may be deposed before its callback notices.
package consensus
