// Package cluster is the one handle a Go service embeds to run on more than
// one machine: gossip membership from package membership, and on servers a
// Raft group from package consensus that replicates the service's own state
// machine.
//
// Membership drives Raft. Servers find each other through gossip, bootstrap
// together once BootstrapExpect of them are alive, and from then on the
// leader keeps the Raft configuration in line with gossip: new servers join
// as non-voters and are promoted once caught up, up to MaxVoters; servers
// that leave are removed at once, servers that fail are removed after
// DeadServerTimeout without ever dropping below MinQuorum voters; a server
// back on a new address is updated in place. Nobody maintains peer lists or
// calls AddVoter.
//
// A node is a server (Config.Consensus set: it may hold a Raft seat and runs
// the state machine) or a client (membership only). Both can Apply and Query;
// a client sends its requests to an alive server it knows from gossip, and
// its writes to the leader once it has learned which server leads.
//
// # Usage
//
//	node, err := cluster.New(cluster.Config{
//		Name:     "node-1",             // empty: the host name
//		BindAddr: "0.0.0.0:7946",       // gossip; empty: this default
//		Seeds:    []string{"10.0.0.2:7946"},
//		Consensus: &cluster.ConsensusConfig{
//			BindAddr:        "0.0.0.0:7950", // Raft and RPC
//			AdvertiseAddr:   "10.0.0.1:7950", // required with a wildcard BindAddr
//			DataDir:         "/var/lib/app/conclave",
//			StateMachine:    fsm,
//			BootstrapExpect: 3,
//		},
//		Logger: slog.Default(),
//	})
//	if err != nil { ... }                  // every bad field, each a *ConfigError
//	if err := node.Start(ctx); err != nil { ... }
//	defer node.Close()                     // keeps the Raft seat for a restart
//
//	node.OnLeader(func(ctx context.Context, term uint64) { runSingleton(ctx, term) })
//	res, err := node.Apply(ctx, cmd)       // from any node
//	val, err := node.Query(ctx, consensus.Linearizable, q)
//
// The caller's obligations:
//
//  1. Give every node a unique, stable Name; a server keeps its name and
//     DataDir across restarts.
//  2. Give every initial server the same BootstrapExpect (the number of
//     initial servers); servers added later may use 0.
//  3. Supply a deterministic [consensus.StateMachine]; implement
//     [consensus.Querier] to serve Query, from clients too.
//  4. Call Close, or Leave to depart for good; both wait for every goroutine
//     the node started.
//
// The Raft log is kept in bolt under DataDir. To use another store (for
// example hashicorp/raft-wal, which Conclave does not depend on), set
// [ConsensusConfig].LogStore; see the consensus package's "Log store"
// section.
//
// # Conventions
//
// The membership, consensus and cluster packages share one vocabulary. The
// zero value of every Config field means its default. A node's identity is
// Name, its listen and advertised addresses BindAddr and AdvertiseAddr, at
// every layer. Advanced knobs sit in one Tuning struct per package; here
// [Config].Tuning holds membership's and consensus's own and the
// reconciler's timings. New reports every bad field at once, each as a
// [ConfigError] naming the field as the caller wrote it. The lifecycle
// errors ([ErrClosed], [ErrNotStarted], [ErrAlreadyStarted]) and
// [ErrInvalidConfig] are the same values in all three packages, and the
// errors of calls through Raft ([ErrNoLeader], [ErrOutcomeUnknown], ...) are
// consensus's own, so errors.Is matches whichever package a caller names.
//
// # Health
//
// Every server rebuilds one picture of its Raft group each reconcile round
// (every ReconcileInterval, and on each membership event and leader change):
// what gossip says of each server, the Raft configuration, each server's
// status as read in that round (when it was read, or why it could not be),
// and since when each server has been healthy. [Node.Health] returns the
// latest picture and asks no server anything, so it is at most about one
// ReconcileInterval old ([Health].Age says how old). The leader plans its
// configuration changes from the same picture and the same definition of
// healthy, so a server Health calls unhealthy is never promoted. A server
// that did not answer is reported as such ([ServerHealth].Known is false),
// with the error and the age of its last answer, never as zero values.
//
// Events from [Node.Subscribe] merge membership changes and leader changes;
// the queue is bounded and drops are counted, so a slow consumer never holds
// up gossip or Raft. Subscribe before Start to see the first joins. Package clustertest runs whole clusters in a test and
// injects failures.
//
// # Profiles
//
// [Config.Profile] sets gossip and Raft timings together. Measured on
// loopback (docs/PERFORMANCE.md has the commands):
//
//	profile  Raft timeouts  leader failover  failure detection  silence a member survives
//	LAN      400 ms         about 0.9 s      about 2.5 s        2 s
//	Fast     120 ms         about 0.25 s     about 2.5 s        2 s
//	WAN      3 s            about 5 s        not measured       (memberlist's WAN values)
//	Local    500 ms         about 0.9 s      about 1.3 s        under 2 s (one machine only)
//
// LAN and Fast held one leader for minutes with 100 ms round trips between
// servers; Fast elects needlessly once round trips or process pauses pass
// 120 ms (a saturated machine, a long garbage collection), so LAN is the
// default.
//
// Every value can be changed through [Config].Tuning.
package cluster
