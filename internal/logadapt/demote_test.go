package logadapt

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
)

func TestDemoteMatchesExactlyAndOnlyLowers(t *testing.T) {
	errBenign := errors.New("benign")
	ds := []Demotion{
		{Logger: "raft", Msg: "expected at start", Level: slog.LevelInfo},
		{Logger: "raft", Msg: "benign sometimes", Level: slog.LevelDebug,
			When: func(c Call) bool { return errors.Is(c.Err(), errBenign) }},
		{Msg: "Failed to send: ", Prefix: true, Level: slog.LevelDebug},
		{Logger: "raft", Msg: "already quiet", Level: slog.LevelInfo},
	}
	tests := []struct {
		name, logger, msg string
		level             slog.Level
		args              []any
		want              slog.Level
	}{
		{"exact", "raft", "expected at start", slog.LevelWarn, nil, slog.LevelInfo},
		{"other logger", "raft-net", "expected at start", slog.LevelWarn, nil, slog.LevelWarn},
		{"longer message", "raft", "expected at start!", slog.LevelWarn, nil, slog.LevelWarn},
		{"condition holds", "raft", "benign sometimes", slog.LevelError, []any{"error", errBenign}, slog.LevelDebug},
		{"condition fails", "raft", "benign sometimes", slog.LevelError, []any{"error", errors.New("disk")}, slog.LevelError},
		{"prefix", "", "Failed to send: closed", slog.LevelError, nil, slog.LevelDebug},
		{"prefix is not exact", "", "Failed to sen", slog.LevelError, nil, slog.LevelError},
		{"never raises", "raft", "already quiet", slog.LevelDebug, nil, slog.LevelDebug},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, demote(ds, tt.logger, tt.msg, tt.level, Call{Args: tt.args}))
		})
	}
}

func TestAdaptersApplyDemotions(t *testing.T) {
	ds := []Demotion{
		{Logger: "raft", Msg: "no known peers, aborting election", Level: slog.LevelInfo},
		{Msg: "Failed to send UDP ping: ", Prefix: true, Level: slog.LevelDebug},
	}
	l, buf := newBuffered(slog.LevelDebug)
	Hclog(l, ds).Named("raft").Warn("no known peers, aborting election")
	StdLogger(l, ds).Print("[ERR] memberlist: Failed to send UDP ping: use of closed network connection")
	Hclog(l, ds).Named("raft").Error("failed to contact quorum of nodes, stepping down")
	require.Contains(t, buf.String(), `level=INFO msg="no known peers, aborting election"`)
	require.Contains(t, buf.String(), `level=DEBUG msg="Failed to send UDP ping: use of closed network connection"`)
	require.Contains(t, buf.String(), `level=ERROR msg="failed to contact quorum of nodes, stepping down"`)
}

func TestHclogRenamesConclaveKeys(t *testing.T) {
	l, buf := newBuffered(slog.LevelInfo)
	Hclog(l.With("node", "s1", "component", "consensus"), nil).Named("raft").
		Info("entering candidate state", "node", "Node at 10.0.0.1:7950 [Candidate]", "term", 2)
	Hclog(l.With("node", "s1"), nil).Log(hclog.Info, "unnamed", "node", "x")
	out := buf.String()
	require.Contains(t, out, `msg="entering candidate state" node=s1 component=consensus logger=raft raft-node="Node at 10.0.0.1:7950 [Candidate]" term=2`)
	require.Contains(t, out, `msg=unnamed node=s1 upstream-node=x`)
}
