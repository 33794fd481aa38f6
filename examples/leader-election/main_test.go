package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/testkit"
)

func TestFlagErrors(t *testing.T) {
	base := []string{"-name", "n1", "-data", "/tmp/x"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-data", "d"}, "-name is required"},
		{[]string{"-name", "n"}, "-data is required"},
		{append(base, "-gossip", "nohost"), "-gossip"},
		{append(base, "-raft", "h:99999"), "-raft"},
		{append(base, "-join", "a:1,b"), "-join"},
		{append(base, "-profile", "turbo"), "-profile"},
		{append(base, "-bootstrap-expect", "-1"), "-bootstrap-expect"},
		{append(base, "-tick", "0s"), "-tick"},
		{append(base, "-log-level", "loud"), "-log-level"},
		{append(base, "extra"), "unexpected argument"},
	} {
		err := run(context.Background(), c.args, io.Discard, io.Discard)
		var usage *usageError
		require.ErrorAs(t, err, &usage, "%v", c.args)
		require.Contains(t, err.Error(), c.want, "%v", c.args)
	}
	require.ErrorIs(t, run(context.Background(), []string{"-h"}, io.Discard, io.Discard), flag.ErrHelp)
}

// TestSingleNodeLeadsUntilStopped runs one node in-process: it leads, its
// job ticks with the term, and cancelling run stops the job before run
// returns.
func TestSingleNodeLeadsUntilStopped(t *testing.T) {
	var out testkit.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{
			"-name", "solo", "-gossip", "127.0.0.1:0", "-raft", "127.0.0.1:0", "-data", t.TempDir(),
			"-bootstrap-expect", "1", "-profile", "local", "-tick", "20ms",
		}, &out, io.Discard)
	}()
	testkit.WaitFor(t, 30*time.Second, func() bool { return strings.Count(out.String(), "tick term=") >= 3 }, "ticks")
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal(errors.New("run did not return"))
	}
	require.Contains(t, out.String(), "ready name=solo ")
	// Leader-change lines ("no leader") may interleave; check the job's.
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if strings.HasPrefix(l, "leading ") || strings.HasPrefix(l, "tick ") || strings.HasPrefix(l, "stopped ") {
			lines = append(lines, l)
		}
	}
	require.Regexp(t, `^leading term=\d+$`, lines[0])
	term := strings.TrimPrefix(lines[0], "leading ")
	require.Equal(t, "stopped leading "+term, lines[len(lines)-1])
	for _, l := range lines[1 : len(lines)-1] {
		require.Regexp(t, `^tick `+term+` n=\d+$`, l)
	}
}
