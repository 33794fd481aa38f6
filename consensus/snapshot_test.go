package consensus

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/testkit"
)

// A server added after the log was compacted catches up through
// InstallSnapshot: several megabytes of state, streamed into Restore.
func TestJoinCatchesUpFromBigSnapshot(t *testing.T) {
	small := func(_ int, cfg *Config) {
		cfg.Tuning.SnapshotThreshold = 8
		cfg.Tuning.TrailingLogs = 2
		cfg.Tuning.SnapshotInterval = 20 * time.Millisecond
	}
	c := newCluster(t, 3, small)
	ctx := testkit.Context(t, 60*time.Second)
	const keys, size = 40, 128 << 10 // 5 MiB of state
	value := func(k int) string { return string(bytes.Repeat([]byte{byte('a' + k%26)}, size)) }
	for k := range keys {
		c.apply(ctx, k%3, fmt.Sprintf("set:k%d=%s", k, value(k)))
	}
	l := c.waitReadyLeader()
	testkit.WaitFor(t, 20*time.Second, func() bool {
		return c.nodes[l].Status().LastSnapshotIndex >= uint64(keys/2)
	}, "leader snapshot covering most writes")
	// Entries after the snapshot too, so the joiner needs snapshot and log.
	c.apply(ctx, l, "set:after=1")

	fsm := newKV()
	cfg := testConfig(t, "n3", fsm)
	small(3, &cfg)
	joiner := c.start(cfg)
	c.nodes, c.fsms, c.cfgs = append(c.nodes, joiner), append(c.fsms, fsm), append(c.cfgs, cfg)
	require.NoError(t, c.nodes[c.follower()].AddNonVoter(ctx, "n3", joiner.Addr()))

	testkit.WaitFor(t, 30*time.Second, func() bool {
		v, _ := fsm.get("after")
		return v == "1"
	}, "joiner catches up")
	require.Positive(t, fsm.restores.Load(), "caught up through a snapshot")
	require.Greater(t, fsm.restoreReads.Load(), int64(20), "the snapshot was streamed in many reads")
	for k := range keys {
		v, ok := fsm.get(fmt.Sprintf("k%d", k))
		require.True(t, ok, "k%d", k)
		require.Equal(t, value(k), v, "k%d", k)
	}
	// The joiner serves reads at the restored index.
	require.NoError(t, joiner.Read(ctx, Linearizable, func(StateMachine) error { return nil }))
	require.GreaterOrEqual(t, joiner.Status().AppliedIndex, c.nodes[l].Status().LastSnapshotIndex)
}

// failingSnapshots wraps the test state machine with snapshots that fail.
type failingSnapshots struct{ *kvFSM }

func (failingSnapshots) Snapshot() (Snapshot, error) { return nil, fmt.Errorf("disk full") }

func TestSnapshotFailureIsCounted(t *testing.T) {
	c := newCluster(t, 1, func(_ int, cfg *Config) {
		cfg.StateMachine = failingSnapshots{newKV()}
		cfg.Tuning.SnapshotThreshold = 2
		cfg.Tuning.SnapshotInterval = 10 * time.Millisecond
	})
	for i := range 5 {
		_, err := c.nodes[0].Apply(context.Background(), fmt.Appendf(nil, "set:k%d=v", i))
		require.NoError(t, err)
	}
	testkit.WaitFor(t, 10*time.Second, func() bool { return c.nodes[0].Status().SnapshotFailures > 0 }, "a counted snapshot failure")
	require.Zero(t, c.nodes[0].Status().LastSnapshotIndex)
}
