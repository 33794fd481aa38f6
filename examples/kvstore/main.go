// Command kvstore is a replicated key-value store with an HTTP API, built on
// Conclave. Run three of them (see README.md); every node serves reads and
// writes, and followers forward writes to the leader.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
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
		fmt.Fprintln(os.Stderr, "kvstore:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "kvstore:", err)
		os.Exit(1)
	}
}

// run starts a node and its HTTP API and serves until ctx is cancelled, then
// shuts down gracefully. It prints one line to stdout once serving, with the
// bound addresses.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	srv, err := newServer(ctx, o, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "kvstore: serving node=%s http=%s gossip=%s raft=%s\n",
		o.name, srv.httpAddr(), srv.node.Local().Address(), srv.node.RaftAddr())
	return srv.serve(ctx)
}
