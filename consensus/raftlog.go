package consensus

import (
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/hashicorp/raft"

	"github.com/conclave-go/conclave/internal/logadapt"
)

// raftDemotions lists the raft (v1.7.3) messages a healthy group logs in
// normal operation, each with the condition under which it is benign, and
// the level to log it at instead of raft's Warn or Error. removed reports
// whether this node, as leader, removed the server at addr from the
// configuration; nil means none was. rejected, when set, is told of every
// replication request a follower refused (raft names it only in its log).
func raftDemotions(removed func(addr string) bool, rejected func(addr string, next uint64)) []logadapt.Demotion {
	peerRemoved := func(c logadapt.Call) bool {
		addr, ok := peerAddr(c)
		return ok && removed != nil && removed(addr)
	}
	noteRejected := func(c logadapt.Call) bool {
		addr, ok := peerAddr(c)
		next, _ := c.Arg("next")
		if n, isIndex := next.(uint64); ok && isIndex && rejected != nil {
			rejected(addr, n)
		}
		return true
	}
	debug, info := slog.LevelDebug, slog.LevelInfo
	return []logadapt.Demotion{
		// A server with no configuration yet, waiting to be bootstrapped or
		// added by the leader; raft says it once per follower term.
		{Logger: "raft", Msg: "no known peers, aborting election", Level: info},
		// No leader was ever seen (start-up): the first election begins. A
		// follower that loses a leader it knew names it, and still warns.
		{Logger: "raft", Msg: "heartbeat timeout reached, starting election", Level: info, When: noLastLeader},
		// Log matching: a follower that is behind (new, or catching up)
		// lacks the entry before the ones it is sent and asks for older
		// ones. A log store that fails, or lost an entry, still warns.
		{Logger: "raft", Msg: "failed to get previous log", Level: debug, When: followerBehind},
		// The leader's half of that exchange; the follower logs any real
		// cause.
		// Recorded for Health, which names a follower that keeps refusing
		// while it applies nothing.
		{Logger: "raft", Msg: "appendEntries rejected, sending older logs", Level: debug, When: noteRejected},
		// A leader learns of a newer term: an election happened (start-up
		// race, leadership transfer on leave). A server that starts an
		// election because it lost its leader warns about it itself.
		{Logger: "raft", Msg: "peer has newer term, stopping replication", Level: info},
		// A candidate that has not heard from the leader yet, turned away
		// by a server that has; the candidate's own log says why it stood.
		{Logger: "raft", Msg: "rejecting vote request since we have a leader", Level: info},
		{Logger: "raft", Msg: "rejecting pre-vote request since we have a leader", Level: info},
		// The last replication to a server this leader removed from the
		// configuration (a graceful leave) races with that server closing.
		{Logger: "raft", Msg: "failed to appendEntries to", Level: debug, When: peerRemoved},
		{Logger: "raft", Msg: "failed to heartbeat to", Level: debug, When: peerRemoved},
		// This node's transport is shutting down under a connection it
		// serves.
		{Logger: "raft-net", Msg: "failed to flush response", Level: debug, When: closedLocally},
		{Logger: "raft-net", Msg: "failed to decode incoming command", Level: debug, When: closedLocally},
	}
}

// peerAddr returns the address of a call's "peer" argument.
func peerAddr(c logadapt.Call) (string, bool) {
	v, _ := c.Arg("peer")
	switch p := v.(type) {
	case raft.Server:
		return string(p.Address), true
	case raft.ServerAddress:
		return string(p), true
	}
	return "", false
}

func noLastLeader(c logadapt.Call) bool {
	v, ok := c.Arg("last-leader-id")
	return ok && fmt.Sprint(v) == ""
}

func followerBehind(c logadapt.Call) bool {
	prev, _ := c.Arg("previous-index")
	last, _ := c.Arg("last-index")
	p, ok1 := prev.(uint64)
	l, ok2 := last.(uint64)
	return ok1 && ok2 && p > l && errors.Is(c.Err(), raft.ErrLogNotFound)
}

func closedLocally(c logadapt.Call) bool {
	err := c.Err()
	return errors.Is(err, net.ErrClosed) || errors.Is(err, raft.ErrTransportShutdown)
}
