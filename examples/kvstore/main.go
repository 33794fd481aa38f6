// Command kvstore is a replicated key-value store with an HTTP API, built on
// Conclave. Run three of them (see README.md); every node serves reads and
// writes, and followers forward writes to the leader. The node itself is
// package server.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/conclave-go/conclave/examples/kvstore/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, a second one kills the process at once.
		<-ctx.Done()
		stop()
	}()
	err := server.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	var usage *server.UsageError
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
