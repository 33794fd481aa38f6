package membership

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/logadapt"
	"github.com/conclave-go/conclave/internal/testkit"
)

// TestLogging checks that this package's and memberlist's records reach the
// configured logger, at their levels, with the component and node
// attributes.
func TestLogging(t *testing.T) {
	var out testkit.SyncBuffer
	logger := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a := startNode(t, testConfig(t, "a"))
	cfg := testConfig(t, "b")
	cfg.Logger = logger
	cfg.Seeds = []string{a.Local().Address()}
	cfg.WaitForJoin = true
	startNode(t, cfg)

	find := func(substr string) string {
		for _, l := range strings.Split(out.String(), "\n") {
			if strings.Contains(l, substr) {
				return l
			}
		}
		return ""
	}
	testkit.WaitFor(t, 10*time.Second, func() bool { return find("Initiating push/pull sync") != "" }, "memberlist's debug line")
	line := find("Initiating push/pull sync")
	require.Contains(t, line, "level=DEBUG")
	require.Contains(t, line, "component=membership")
	require.Contains(t, line, "node=b")
	require.NotContains(t, line, "[DEBUG]")

	line = find("gossip started")
	require.Contains(t, line, "level=INFO")
	require.Contains(t, line, "node=b")
}

// TestShutdownFailuresLogAtDebugOnlyWhileClosing checks memberlist's I/O
// failures keep their level until the transport shuts down, and that
// nothing else is demoted then.
func TestShutdownFailuresLogAtDebugOnlyWhileClosing(t *testing.T) {
	tests := []struct {
		line    string
		closing bool
		want    string
	}{
		{"[ERR] memberlist: Failed to send UDP ping: write udp 127.0.0.1:1->127.0.0.1:2: use of closed network connection", true, "DEBUG"},
		{"[ERR] memberlist: Failed to send indirect UDP ping: write udp: use of closed network connection", true, "DEBUG"},
		{"[ERR] memberlist: Push/Pull with s0 failed: dial tcp 127.0.0.1:2: operation was canceled", true, "DEBUG"},
		{"[ERR] memberlist: Failed to send gossip to 127.0.0.1:2: use of closed network connection", true, "DEBUG"},
		{"[ERR] memberlist: Failed to send UDP ping: write udp: connection refused", false, "ERROR"},
		{"[ERR] memberlist: Push/Pull with s0 failed: dial tcp 127.0.0.1:2: i/o timeout", false, "ERROR"},
		{"[WARN] memberlist: Refuting a suspect message (from: s1)", true, "WARN"},
		{"[ERR] memberlist: Failed to decode ping: bad", true, "ERROR"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			var out testkit.SyncBuffer
			l := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
			logadapt.StdLogger(l, memberlistDemotions(func() bool { return tt.closing })).Print(tt.line)
			require.Contains(t, out.String(), "level="+tt.want+" ")
		})
	}
}
