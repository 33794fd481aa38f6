package consensus

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/logadapt"
)

// TestRaftDemotionsOnlyBenignCases logs each listed raft message in its
// benign case and in a case that must keep raft's level.
func TestRaftDemotionsOnlyBenignCases(t *testing.T) {
	removed := raft.Server{ID: "gone", Address: "10.0.0.9:7950"}
	member := raft.Server{ID: "s2", Address: "10.0.0.2:7950"}
	closed := &net.OpError{Op: "write", Net: "tcp", Err: net.ErrClosed}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	eof := errors.New("EOF")
	noLeader := []any{"last-leader-addr", raft.ServerAddress(""), "last-leader-id", raft.ServerID("")}
	lostLeader := []any{"last-leader-addr", member.Address, "last-leader-id", member.ID}
	tests := []struct {
		logger string
		level  hclog.Level // raft's
		msg    string
		args   []any
		want   slog.Level
	}{
		{"raft", hclog.Warn, "no known peers, aborting election", nil, slog.LevelInfo},
		{"raft", hclog.Warn, "heartbeat timeout reached, starting election", noLeader, slog.LevelInfo},
		{"raft", hclog.Warn, "heartbeat timeout reached, starting election", lostLeader, slog.LevelWarn},
		{"raft", hclog.Warn, "failed to get previous log",
			[]any{"previous-index", uint64(7), "last-index", uint64(3), "error", raft.ErrLogNotFound}, slog.LevelDebug},
		{"raft", hclog.Warn, "failed to get previous log", // lost, not behind
			[]any{"previous-index", uint64(2), "last-index", uint64(9), "error", raft.ErrLogNotFound}, slog.LevelWarn},
		{"raft", hclog.Warn, "failed to get previous log",
			[]any{"previous-index", uint64(7), "last-index", uint64(3), "error", errors.New("disk I/O error")}, slog.LevelWarn},
		{"raft", hclog.Warn, "appendEntries rejected, sending older logs", []any{"peer", member, "next", uint64(4)}, slog.LevelDebug},
		{"raft", hclog.Error, "peer has newer term, stopping replication", []any{"peer", member}, slog.LevelInfo},
		{"raft", hclog.Warn, "rejecting vote request since we have a leader", []any{"from", member.Address}, slog.LevelInfo},
		{"raft", hclog.Warn, "rejecting pre-vote request since we have a leader", []any{"from", member.Address}, slog.LevelInfo},
		{"raft", hclog.Error, "failed to appendEntries to", []any{"peer", removed, "error", eof}, slog.LevelDebug},
		{"raft", hclog.Error, "failed to appendEntries to", []any{"peer", member, "error", eof}, slog.LevelError},
		{"raft", hclog.Error, "failed to heartbeat to", []any{"peer", removed.Address, "error", reset}, slog.LevelDebug},
		{"raft", hclog.Error, "failed to heartbeat to", []any{"peer", member.Address, "error", reset}, slog.LevelError},
		{"raft-net", hclog.Error, "failed to flush response", []any{"error", closed}, slog.LevelDebug},
		{"raft-net", hclog.Error, "failed to flush response", []any{"error", reset}, slog.LevelError},
		{"raft-net", hclog.Error, "failed to decode incoming command", []any{"error", raft.ErrTransportShutdown}, slog.LevelDebug},
		{"raft-net", hclog.Error, "failed to decode incoming command", []any{"error", reset}, slog.LevelError},
		// Not listed: raft's level.
		{"raft", hclog.Warn, "Election timeout reached, restarting election", nil, slog.LevelWarn},
		{"raft", hclog.Warn, "failed to contact quorum of nodes, stepping down", nil, slog.LevelWarn},
		{"raft", hclog.Warn, "previous log term mis-match", []any{"ours", uint64(2), "remote", uint64(3)}, slog.LevelWarn},
	}
	for _, tt := range tests {
		t.Run(tt.logger+": "+tt.msg, func(t *testing.T) {
			var buf bytes.Buffer
			l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			h := logadapt.Hclog(l, raftDemotions(func(addr string) bool { return addr == string(removed.Address) }, nil))
			h.Named(tt.logger).Log(tt.level, tt.msg, tt.args...)
			require.Contains(t, buf.String(), "level="+tt.want.String()+" msg=", buf.String())
			require.Equal(t, 1, strings.Count(buf.String(), "\n"))
		})
	}
}

func TestRemovedPeersFollowsObservations(t *testing.T) {
	var p removedPeers
	s := raft.Server{ID: "s3", Address: "10.0.0.3:7950"}
	require.False(t, p.has("10.0.0.3:7950"))
	p.observe(raft.PeerObservation{Peer: s, Removed: true})
	require.True(t, p.has("10.0.0.3:7950"))
	require.False(t, p.has("10.0.0.4:7950"))
	p.observe(raft.PeerObservation{Peer: s, Removed: false}) // added back
	require.False(t, p.has("10.0.0.3:7950"))
}

func TestRejectedReplicationIsRecorded(t *testing.T) {
	var log rejectionLog
	l := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := logadapt.Hclog(l, raftDemotions(nil, log.note)).Named("raft")
	peer := raft.Server{ID: "s2", Address: "10.0.0.2:7950"}
	require.Zero(t, log.of("10.0.0.2:7950"))
	for next := uint64(5); next >= 3; next-- {
		h.Warn("appendEntries rejected, sending older logs", "peer", peer, "next", next)
	}
	r := log.of("10.0.0.2:7950")
	require.Equal(t, uint64(3), r.Count)
	require.Equal(t, uint64(3), r.Next)
	require.False(t, r.Last.IsZero())
	require.Zero(t, log.of("10.0.0.3:7950"))
}
