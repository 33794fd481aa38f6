// Package clustertest runs whole Conclave clusters inside one process and
// breaks them, the way net/http/httptest runs servers: users test their own
// state machines under node failures with it, and Conclave tests itself
// with it.
//
// [New] starts n nodes on 127.0.0.1, each with its own data dir and its own
// host on a shared fault-injecting network, and waits until they form a
// cluster. Faults are injected in the network path that both gossip
// (memberlist's UDP and TCP) and Raft (its stream layer and Conclave's RPC)
// use, so the real code runs on real loopback sockets:
//
//   - [Cluster.Kill] crashes a node (every socket closed abruptly, no
//     leave) and [Cluster.Restart] brings it back with the same name and
//     data dir; [Cluster.Stop] makes it leave gracefully;
//   - [Cluster.Partition], [Cluster.Isolate], [Cluster.Cut] (one direction)
//     and [Cluster.Heal];
//   - [Cluster.SetLoss], [Cluster.SetDelay] and their per-link forms;
//   - [Cluster.Pause] and [Cluster.Resume]: a node's traffic is held, then
//     delivered late, like a long GC or VM pause (a partition drops it).
//
// Every fault is logged with a timestamp, and the seed of the random
// choices is logged when the cluster starts, so a failing run can be
// repeated with [WithSeed] or CONCLAVE_SEED.
//
// The Wait methods ([Cluster.WaitLeader], [Cluster.WaitMembers],
// [Cluster.WaitApplied], [Cluster.WaitFor]) poll a condition until it holds
// or a deadline passes, then fail the test with what they last saw.
//
// For checking, the package has a small replicated key-value state machine
// ([KV]), a recording client that keeps a [History] of concurrent
// operations with their invocation and response times (an operation whose
// outcome is unknown is recorded as such), a linearizability checker
// ([Check], built on porcupine, key by key) that writes an HTML
// visualization of a failing history, and [Cluster.RunWorkload] to drive
// concurrent clients. Beside linearizability the cluster checks that no
// term ever had two leaders ([Cluster.CheckLeaders], also at Close), and
// [History.ReadFinal] after a restart of every node checks that no
// acknowledged write was lost.
//
// # Usage
//
// A test of the application's own state machine under a partition:
//
//	func TestCounterSurvivesAPartition(t *testing.T) {
//		c := clustertest.New(t, 3, clustertest.WithStateMachine(func() consensus.StateMachine { return NewCounter() }))
//		ctx := t.Context()
//
//		old := c.WaitLeader()
//		c.Partition([]int{old}, c.Except(old)) // the leader alone on one side
//		lead := c.WaitLeader(c.Except(old)...) // the majority elects another
//		_, err := c.Node(lead).Apply(ctx, []byte("incr"))
//		require.NoError(t, err)
//
//		c.Heal()
//		got, err := c.Node(old).Query(ctx, consensus.Linearizable, nil)
//		require.NoError(t, err)
//		require.Equal(t, "1", string(got))
//	}
//
// Checking linearizability of the built-in KV store under faults:
//
//	c := clustertest.New(t, 3)
//	h := clustertest.NewHistory()
//	ctx, stop := context.WithCancel(t.Context())
//	done := make(chan struct{})
//	go func() { c.RunWorkload(ctx, h, clustertest.Workload{}); close(done) }()
//	c.Kill(1)
//	c.Restart(1)
//	c.Partition([]int{0}, []int{1, 2})
//	c.Heal()
//	stop()
//	<-done
//	h.ReadFinal(t.Context(), c.Node(c.WaitLeader()))
//	c.Check(h) // fails the test, printing the visualization's path
//
// Programs without a testing.T use [Start] and Close the cluster
// themselves; nothing is printed unless [WithLogger] is given.
//
// The caller's obligations:
//
//  1. In a cluster built by New, a call that fails stops the test with
//     t.Fatal, so call the harness from the test's goroutine (the
//     workload's clients, which never fail the test, are the exception).
//  2. Lifecycle calls on one node (Kill, Restart, Stop) must not race each
//     other.
//  3. Faults are attached to node names: a restarted node is still
//     partitioned, paused or lossy until Heal, Resume or SetLoss(0).
//
// # The nemesis suite
//
// The package's own TestNemesis runs clients against [KV] while a seeded
// schedule injects every fault above (kills and restarts of servers, of the
// leader and of a client node, random partitions, isolating the leader,
// one-way cuts, loss, delay, pauses, a leader leaving gracefully), then
// crashes and restarts every node and checks the history. It takes about
// 20 seconds; CONCLAVE_SOAK=30m runs fresh histories back to back for 30
// minutes and prints the totals (go test -v -timeout 0 -run TestNemesis).
package clustertest
