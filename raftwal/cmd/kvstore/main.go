// Command kvstore is the kvstore example (examples/kvstore) with one more
// Raft log store: -log-store wal keeps the log and stable store in
// hashicorp/raft-wal (package raftwal), under DataDir/wal. Everything else,
// flags, API and behaviour, is the example's; bolt stays the default. See
// examples/kvstore/README.md, "Log store".
//
// It lives in the raftwal module so that Conclave's main module does not
// depend on raft-wal. Build it from the repository root with
//
//	(cd raftwal && go build -o kvstore-wal ./cmd/kvstore)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/examples/kvstore/server"
	"github.com/conclave-go/conclave/internal/logadapt"
	"github.com/conclave-go/conclave/raftwal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, a second one kills the process at once.
		<-ctx.Done()
		stop()
	}()
	err := server.Run(ctx, os.Args[1:], os.Stdout, os.Stderr, server.WithLogStore("wal", walStore))
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

// walStore is raft-wal in the node's DataDir/wal, logging through the
// node's logger.
func walStore(logger *slog.Logger) consensus.LogStoreConfig {
	return raftwal.LogStore(logadapt.Hclog(logger, nil))
}
