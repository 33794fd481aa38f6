package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/conclave-go/conclave/internal/testkit"
)

func TestRun(t *testing.T) {
	defer goleak.VerifyNone(t, testkit.LeakOptions()...)
	var out testkit.SyncBuffer
	require.NoError(t, run(t.Context(), &out))
	text := out.String()
	for _, want := range []string{
		"formed: every node sees 5 alive members",
		"user event deploy=v2 from node-2 delivered on all 5 nodes",
		"node-3 answered: node 3 load 0.3",
		"query load answered by 3 of 3 matching nodes",
		"node-5 declared failed by all 4 other nodes",
		"node-1 observed: failed node-5",
		"node-4 seen as left (not failed) by all 3 other nodes",
		"node-1 observed: leave node-4",
		"3 alive, one failed, one left, as expected",
	} {
		require.True(t, strings.Contains(text, want), "missing %q in:\n%s", want, text)
	}
}
