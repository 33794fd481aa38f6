package membership

import (
	"log/slog"

	"github.com/conclave-go/conclave/internal/logadapt"
)

// shutdownFailures are the heads of memberlist's (v0.6.0) I/O failure
// messages, "memberlist: " removed. Logged once this node's transport is
// shutting down, they are that shutdown's doing: a probe, gossip round,
// push/pull or stream handler was using a socket the transport closed, or a
// dial it cancelled. Before that, they still log at memberlist's level.
var shutdownFailures = []string{
	"Failed to send UDP ping: ",
	"Failed to send UDP compound ping and suspect message to ",
	"Failed to send indirect UDP ping: ",
	"Failed fallback TCP ping: ",
	"Failed to send gossip to ",
	"Push/Pull with ", // "Push/Pull with <node> failed: <error>"
	"Failed to send ack: ",
	"Failed to forward ack: ",
	"Failed to send indirect ping: ",
	"Failed to send nack: ",
	"failed to receive: ",
	"failed to receive and remove the stream label header: ",
	"Failed to receive user message: ",
	"Failed to read remote state: ",
	"Failed to push local state: ",
}

// memberlistDemotions logs shutdownFailures at Debug while closing reports
// that the transport is shutting down.
func memberlistDemotions(closing func() bool) []logadapt.Demotion {
	when := func(logadapt.Call) bool { return closing() }
	ds := make([]logadapt.Demotion, 0, len(shutdownFailures))
	for _, head := range shutdownFailures {
		ds = append(ds, logadapt.Demotion{Msg: head, Prefix: true, Level: slog.LevelDebug, When: when})
	}
	return ds
}
