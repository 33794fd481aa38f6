// Package logadapt routes the logs of hashicorp/memberlist and hashicorp/raft
// into a *slog.Logger, so that nothing in Conclave writes to stderr on its own.
//
// memberlist logs through a *log.Logger whose lines carry their level as a
// bracketed prefix ("[DEBUG] memberlist: ..."); [StdLogger] parses that prefix
// and re-emits the line at the matching slog level. raft logs through an
// hclog.Logger; [Hclog] implements that interface on top of slog.
//
// Warn and Error mean an operator should look. The upstream messages a
// healthy group logs in normal operation (start-up elections, log matching,
// a graceful leave, a shutdown) are logged lower: each adapter takes a table
// of [Demotion]s, kept by the package that runs the library (consensus for
// raft, membership for memberlist), each naming one message exactly and the
// condition under which it is benign. Nothing else is demoted.
package logadapt

import (
	"context"
	"io"
	"log/slog"
)

// Discard returns a logger that drops every record. Packages use it when their
// Config leaves Logger nil.
func Discard() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.Level(127)}))
}

// OrDiscard returns l, or a discarding logger when l is nil.
func OrDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return Discard()
	}
	return l
}

// enabled reports whether l would emit a record at level.
func enabled(l *slog.Logger, level slog.Level) bool {
	return l.Enabled(context.Background(), level)
}
