// Package server is the kvstore example's node: its flags, the replicated
// store, the HTTP API and the lifetime of the process. Command kvstore
// (examples/kvstore) runs it; see examples/kvstore/README.md.
package server

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

// Run parses args (the command line without the program name), starts a
// node and its HTTP API and serves until ctx is cancelled, then shuts down
// gracefully. It prints one line to stdout once serving, with the bound
// addresses, and logs to stderr.
//
// opts offer more values of -log-store than bolt (WithLogStore). A bad
// command line is a *UsageError; -h prints the flags to stderr and returns
// flag.ErrHelp.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, opts ...Option) error {
	o, err := parseFlags(args, stderr, opts...)
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

// Main is a kvstore command's whole main function: it runs the node with
// the process's arguments until SIGINT or SIGTERM (a second signal kills
// the process at once), then exits with 0, 2 for a bad command line, or 1
// for any other error.
func Main(opts ...Option) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	err := Run(ctx, os.Args[1:], os.Stdout, os.Stderr, opts...)
	stop()
	var usage *UsageError
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
