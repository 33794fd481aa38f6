package cluster

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/testkit"
)

// A follower whose disk fills up is reported unhealthy, with a reason that
// names the full disk, and leaves the failure tolerance while the other two
// commit on; once space returns it catches up and is healthy again.
func TestFullDiskIsUnhealthyUntilSpaceReturns(t *testing.T) {
	const diskSize = 16 << 20
	dirs := map[string]string{}
	nodes := startServers(t, 3, func(c *Config) {
		dir := testkit.Tmpfs(t, diskSize)
		dirs[c.Name] = dir
		c.Consensus.DataDir = dir
		c.Tuning.ProgressTimeout = time.Minute // the storage rule, not the stuck one
	})
	lead := leaderOf(t, nodes)
	victim := nodes[followerIndex(nodes, lead)]
	ctx := testkit.Context(t, 2*time.Minute)
	_, err := lead.Apply(ctx, []byte("set a 1"))
	require.NoError(t, err)
	waitHealth(t, lead.Node, 20*time.Second, func(h Health) bool { return h.FailureTolerance == 1 }, "tolerance 1")

	filler := testkit.Fill(t, dirs[victim.Name()])
	value := strings.Repeat("v", 32<<10)
	testkit.WaitFor(t, 60*time.Second, func() bool {
		_, err := lead.Apply(ctx, []byte(fmt.Sprintf("set big%d %s", time.Now().UnixNano(), value)))
		require.NoError(t, err, "the other two commit without the full disk")
		return victim.Consensus().Status().StorageError != ""
	}, "the follower's log writes fail")
	require.Contains(t, victim.Consensus().Status().StorageError, "disk full")

	h := waitHealth(t, lead.Node, 30*time.Second, func(h Health) bool {
		return !serverIn(t, h, victim.Name()).Healthy
	}, "the full follower reported unhealthy")
	s := serverIn(t, h, victim.Name())
	require.Contains(t, s.Reason, "storage: disk full")
	require.Contains(t, s.Reason, "free space", "the reason says what to do")
	require.Zero(t, h.FailureTolerance, "a voter that cannot write is no tolerance")

	require.NoError(t, os.Remove(filler))
	_, err = lead.Apply(ctx, []byte("set after 1"))
	require.NoError(t, err)
	waitHealth(t, lead.Node, 60*time.Second, func(h Health) bool {
		return serverIn(t, h, victim.Name()).Healthy && h.FailureTolerance == 1
	}, "healthy again once space returns")
	testkit.WaitFor(t, 30*time.Second, func() bool { return victim.fsm.get("after") == "1" }, "the follower caught up")
	require.Empty(t, victim.Consensus().Status().StorageError)
}
