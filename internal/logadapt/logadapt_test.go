package logadapt

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
)

func TestParseLine(t *testing.T) {
	tests := []struct {
		line  string
		level slog.Level
		msg   string
	}{
		{"[DEBUG] memberlist: Stream connection from=1.2.3.4", slog.LevelDebug, "Stream connection from=1.2.3.4"},
		{"[WARN] memberlist: Refuting a suspect message", slog.LevelWarn, "Refuting a suspect message"},
		{"[ERR] memberlist: Failed to send", slog.LevelError, "Failed to send"},
		{"[ERROR] something", slog.LevelError, "something"},
		{"[INFO] memberlist: Marking n1 as failed", slog.LevelInfo, "Marking n1 as failed"},
		{"[TRACE] detail", LevelTrace, "detail"},
		{"no marker at all", slog.LevelInfo, "no marker at all"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			level, msg := parseLine(tt.line)
			require.Equal(t, tt.level, level)
			require.Equal(t, tt.msg, msg)
		})
	}
}

func newBuffered(level slog.Level) (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	h := slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level})
	return slog.New(h), &buf
}

func TestStdLoggerRoutesLevels(t *testing.T) {
	l, buf := newBuffered(slog.LevelInfo)
	std := StdLogger(l, nil)
	std.Printf("[DEBUG] memberlist: hidden")
	std.Printf("[WARN] memberlist: shown %d", 7)
	out := buf.String()
	require.NotContains(t, out, "hidden")
	require.Contains(t, out, "level=WARN")
	require.Contains(t, out, `msg="shown 7"`)
}

func TestHclogAdapter(t *testing.T) {
	l, buf := newBuffered(slog.LevelDebug)
	h := Hclog(l, nil).Named("raft").With("peer", "n1")
	h.Trace("too verbose")
	h.Info("entering leader state", "term", 3)
	require.True(t, h.IsDebug())
	require.False(t, h.IsTrace())
	require.Equal(t, hclog.Debug, h.GetLevel())
	require.Equal(t, "raft", h.Name())
	out := buf.String()
	require.NotContains(t, out, "too verbose")
	require.Contains(t, out, "logger=raft")
	require.Contains(t, out, "peer=n1")
	require.Contains(t, out, "term=3")
}

func TestNilLoggerDiscards(t *testing.T) {
	require.NotPanics(t, func() {
		StdLogger(nil, nil).Printf("[ERR] x")
		Hclog(nil, nil).Error("x")
	})
}
