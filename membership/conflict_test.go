package membership

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/testkit"
)

// TestDuplicateNameRefused starts a second node named like a live member, at
// another address: its Start fails with an error naming both addresses, and
// the cluster keeps the original.
func TestDuplicateNameRefused(t *testing.T) {
	nodes := startCluster(t, 2, nil)
	testkit.WaitFor(t, 10*time.Second, func() bool { return allSee(nodes, 2) }, "formed")
	original := nodes[1].Local().Address()

	cfg := testConfig(t, "node-1")
	cfg.Seeds = []string{nodes[0].Local().Address()}
	dup, err := New(cfg)
	require.NoError(t, err)
	defer dup.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	err = dup.Start(ctx)
	require.ErrorIs(t, err, ErrNameConflict)
	var conflict *NameConflictError
	require.True(t, errors.As(err, &conflict))
	require.Equal(t, "node-1", conflict.Name)
	require.Equal(t, original, conflict.Existing)
	require.NotEqual(t, original, conflict.Candidate)
	require.Contains(t, err.Error(), original)
	require.Contains(t, err.Error(), conflict.Candidate)

	for _, n := range nodes {
		require.Len(t, n.Members(), 2)
		for _, m := range n.Members() {
			if m.Name == "node-1" {
				require.Equal(t, original, m.Address(), "the original keeps its entry")
			}
		}
	}
}

// TestRestartOnNewAddressReplacesEntry restarts a node under the same name
// on a new port right after it crashed. Its Start waits (WaitForJoin) until
// the cluster has declared the old incarnation failed, then takes the name
// over; every node then sees it alive at the new address.
func TestRestartOnNewAddressReplacesEntry(t *testing.T) {
	nodes := startCluster(t, 3, nil)
	testkit.WaitFor(t, 10*time.Second, func() bool { return allSee(nodes, 3) }, "formed")
	rec := record(nodes[0].Subscribe(0))
	old := nodes[2].Local().Address()
	require.NoError(t, nodes[2].Close())

	cfg := testConfig(t, "node-2")
	cfg.Seeds = []string{nodes[0].Local().Address()}
	cfg.WaitForJoin = true
	restarted := startNode(t, cfg) // blocks until admitted
	fresh := restarted.Local().Address()
	require.NotEqual(t, old, fresh)

	all := []*Membership{nodes[0], nodes[1], restarted}
	testkit.WaitFor(t, 20*time.Second, func() bool {
		if !allSee(all, 3) {
			return false
		}
		for _, n := range all {
			for _, m := range n.Members() {
				if m.Name == "node-2" && m.Address() != fresh {
					return false
				}
			}
		}
		return true
	}, "every node sees node-2 at %s", fresh)
	require.Equal(t, []EventType{EventFailed, EventJoin}, rec.of("node-2"))
}
