package membership

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/testkit"
)

// TestSnapshotRejoinWithoutSeeds restarts a node whose only seed is gone:
// it rejoins the surviving member from its snapshot.
func TestSnapshotRejoinWithoutSeeds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "members")
	nodes := startCluster(t, 3, func(i int, cfg *Config) {
		if i == 2 {
			cfg.SnapshotPath = path
		}
	})
	testkit.WaitFor(t, 10*time.Second, func() bool { return allSee(nodes, 3) }, "formed")
	testkit.WaitFor(t, 10*time.Second, func() bool {
		s, err := readSnapshot(path)
		return err == nil && len(s.Members) == 2
	}, "snapshot records both members")
	require.NoError(t, nodes[2].Close())
	require.NoError(t, nodes[0].Close()) // the only seed
	testkit.WaitFor(t, 20*time.Second, func() bool {
		return statusOfMember(nodes[1], "node-2") == StatusFailed && statusOfMember(nodes[1], "node-0") == StatusFailed
	}, "node-1 sees both failed")

	cfg := testConfig(t, "node-2")
	cfg.SnapshotPath, cfg.WaitForJoin = path, true
	restarted := startNode(t, cfg)
	testkit.WaitFor(t, 20*time.Second, func() bool {
		return statusOfMember(nodes[1], "node-2") == StatusAlive && statusOfMember(restarted, "node-1") == StatusAlive
	}, "the restarted node rejoins node-1")
}

// TestSnapshotRemembersLeave restarts a node that left: it does not rejoin.
func TestSnapshotRemembersLeave(t *testing.T) {
	path := filepath.Join(t.TempDir(), "members")
	nodes := startCluster(t, 2, func(i int, cfg *Config) {
		if i == 1 {
			cfg.SnapshotPath = path
		}
	})
	testkit.WaitFor(t, 10*time.Second, func() bool { return allSee(nodes, 2) }, "formed")
	testkit.WaitFor(t, 10*time.Second, func() bool {
		s, err := readSnapshot(path)
		return err == nil && len(s.Members) == 1
	}, "snapshot records node-0")
	require.NoError(t, nodes[1].Leave(testkit.Context(t, 10*time.Second)))
	s, err := readSnapshot(path)
	require.NoError(t, err)
	require.True(t, s.Left)

	cfg := testConfig(t, "node-1")
	cfg.SnapshotPath = path
	restarted := startNode(t, cfg)
	require.Empty(t, restarted.cfg.Seeds, "no member to rejoin after a leave")
	require.Equal(t, 1, countStatus(restarted, StatusAlive), "alone")
}

func TestSnapshotDecode(t *testing.T) {
	s := snapshot{Left: true, Members: []snapshotMember{{"a", "127.0.0.1:1"}}}
	got, err := decodeSnapshot(s.encode())
	require.NoError(t, err)
	require.Equal(t, s, got)
	for _, b := range [][]byte{nil, {2, 0, 0}, {1, 2, 0}, append(s.encode(), 0),
		snapshot{Members: []snapshotMember{{"a", "no port"}}}.encode()} {
		_, err := decodeSnapshot(b)
		require.ErrorIs(t, err, errBadSnapshot)
	}
	path := filepath.Join(t.TempDir(), "bad")
	require.NoError(t, os.WriteFile(path, []byte{9}, 0o600))
	cfg := testConfig(t, "x")
	cfg.SnapshotPath = path
	_, err = New(cfg)
	require.NoError(t, err, "a malformed snapshot is ignored")
}
