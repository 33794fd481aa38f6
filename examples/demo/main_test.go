package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestDemoBinary builds the demo and runs it as a user would.
func TestDemoBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the demo binary")
	}
	bin := filepath.Join(t.TempDir(), "demo")
	build := exec.Command("go", "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())

	got := stdout.String()
	for _, want := range []string{
		"gossip: all 5 nodes see 5 alive members",
		"raft: 3 servers bootstrapped from gossip",
		"writes: 20 puts from client node",
		"returns the latest write",
		"failover: killed leader",
		"caught up as a follower",
		"refuses linearizable reads",
		"heal: every node sees 5 alive members",
		"left gracefully",
		"every step behaved as described",
	} {
		require.Contains(t, got, want)
	}
	require.Empty(t, stderr.String())
}

func TestDemoSmallerCluster(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"-nodes", "3", "-servers", "3", "-seed", "7"}, &out), out.String())
	require.Contains(t, out.String(), "writes: 20 puts from server node")
	require.Contains(t, out.String(), "every step behaved as described")
}

func TestDemoFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-servers", "2"},
		{"-nodes", "2", "-servers", "3"},
		{"-nodes", "100"},
		{"-profile", "moon"},
		{"extra"},
		{"-bogus"},
	} {
		var out bytes.Buffer
		err := run(t.Context(), args, &out)
		var usage usageError
		require.ErrorAs(t, err, &usage, strings.Join(args, " "))
	}
}
