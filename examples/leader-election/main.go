// Command leader-election runs a job on exactly one node of a cluster at a
// time: the Raft leader. Start three of them (see README.md); kill the
// leader and another takes over within a couple of seconds.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/conclave-go/conclave/cluster"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, a second one kills the process at once.
		<-ctx.Done()
		stop()
	}()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	var usage *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.As(err, &usage):
		fmt.Fprintln(os.Stderr, "leader-election:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "leader-election:", err)
		os.Exit(1)
	}
}

// run starts a node whose leader runs the job, until ctx is cancelled.
// Events go to stdout, one per line: "ready ...", "leading term=N",
// "tick term=N n=K", "stopped leading term=N", "following leader=ID
// term=N", "no leader".
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	out := &printer{w: stdout}
	node, err := cluster.New(cluster.Config{
		Name:     o.name,
		BindAddr: o.gossipAddr,
		Seeds:    o.join,
		Profile:  o.profile,
		Consensus: &cluster.ConsensusConfig{
			BindAddr:        o.raftAddr,
			DataDir:         o.dataDir,
			StateMachine:    noState{},
			BootstrapExpect: o.bootstrapExpect,
		},
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: o.logLevel})),
	})
	if err != nil {
		return err
	}
	j := &job{out: out, tick: o.tick}
	node.OnLeader(j.lead)
	// Subscribed before Start, so the first leader is seen too. Closing the
	// node closes the subscription.
	sub := node.Subscribe(0)
	followed := make(chan struct{})
	go func() {
		defer close(followed)
		follow(sub, o.name, out)
	}()
	if err := node.Start(ctx); err != nil {
		node.Close()
		<-followed
		return err
	}
	out.printf("ready name=%s gossip=%s raft=%s", o.name, node.Local().Address(), node.RaftAddr())
	<-ctx.Done()
	err = stop(node, o.leaveOnExit)
	sub.Close()
	<-followed
	return err
}

// stop closes the node, keeping its Raft seat, or with leave gives the seat
// up (handing leadership over first).
func stop(node *cluster.Node, leave bool) error {
	if !leave {
		return node.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return node.Leave(ctx)
}
