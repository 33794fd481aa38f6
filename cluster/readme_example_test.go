package cluster_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"

	"github.com/conclave-go/conclave/cluster"
	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/membership"
)

// The bodies of the examples below are quoted in README.md; a test keeps the
// two in step. They compile but do not run: their addresses are not this
// machine's.

var ctx = context.Background()

// Membership alone: a live peer list with tags and events.
func Example_membershipOnly() {
	m, err := membership.New(membership.Config{
		Name:  "web-1", // zero fields mean defaults: LAN timing, 0.0.0.0:7946
		Seeds: []string{"10.0.0.2:7946", "10.0.0.3:7946"},
		Tags:  map[string]string{"zone": "eu-1a"},
	})
	if err != nil {
		log.Fatal(err) // names the bad field and what is allowed
	}
	if err := m.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	sub := m.Subscribe(0)
	for ev := range sub.Events() { // join, update, leave, failed, reap
		fmt.Println(ev, "now", len(m.Members()), "members")
	}
}

// A server of a three-server cluster that replicates the service's state
// machine; writes and linearizable reads work from any node.
func Example_withStateMachine() {
	node, err := cluster.New(cluster.Config{
		Name:     "server-1",
		BindAddr: "0.0.0.0:7946",
		Seeds:    []string{"10.0.0.2:7946"},
		Consensus: &cluster.ConsensusConfig{
			BindAddr:        "0.0.0.0:7950",
			AdvertiseAddr:   "10.0.0.1:7950",
			DataDir:         "/var/lib/myservice/conclave",
			StateMachine:    &counter{}, // your consensus.StateMachine
			BootstrapExpect: 3,
		},
		Logger: slog.Default(),
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := node.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer node.Close() // keeps the Raft seat; node.Leave(ctx) departs for good

	node.OnLeader(func(ctx context.Context, term uint64) {
		log.Printf("leading in term %d until ctx is done", term)
	})
	if _, err := node.Apply(ctx, []byte("1")); err != nil {
		log.Fatal(err)
	}
	total, err := node.Query(ctx, consensus.Linearizable, nil)
	fmt.Println(string(total), err)
}
