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
	"log/slog"

	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/examples/kvstore/server"
	"github.com/conclave-go/conclave/internal/logadapt"
	"github.com/conclave-go/conclave/raftwal"
)

func main() { server.Main(server.WithLogStore("wal", walStore)) }

// walStore is raft-wal in the node's DataDir/wal, logging through the
// node's logger.
func walStore(logger *slog.Logger) consensus.LogStoreConfig {
	return raftwal.LogStore(logadapt.Hclog(logger, nil))
}
