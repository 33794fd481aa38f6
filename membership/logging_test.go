package membership

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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
