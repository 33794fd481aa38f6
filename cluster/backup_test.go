package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/internal/testkit"
)

// contentsOf returns n's whole state after a linearizable read.
func contentsOf(ctx context.Context, t testing.TB, n *testNode) map[string]string {
	t.Helper()
	var out map[string]string
	require.NoError(t, n.Read(ctx, consensus.Linearizable, func(consensus.StateMachine) error {
		n.fsm.mu.Lock()
		defer n.fsm.mu.Unlock()
		out = maps.Clone(n.fsm.data)
		return nil
	}))
	return out
}

// A backup taken from cluster A under write load, restored into cluster B:
// every server of B ends with A's state at the backup's index, and bad
// files are refused while B keeps serving.
func TestBackupRestoreAcrossClusters(t *testing.T) {
	a := startServers(t, 3)
	b := startServers(t, 3)
	leaderOf(t, a)
	bLead := leaderOf(t, b)
	ctx := testkit.Context(t, 90*time.Second)
	_, err := bLead.Apply(ctx, []byte("set only-in-b yes"))
	require.NoError(t, err)

	// One writer sets k0, k1, ... in order, each acknowledged before the
	// next: A's state at any index is a prefix of that sequence.
	var mu sync.Mutex
	acked := 0
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := a[i%3].Apply(ctx, fmt.Appendf(nil, "set k%d v%d", i, i)); err != nil {
				continue // the same key again
			}
			i++
			mu.Lock()
			acked = i
			mu.Unlock()
		}
	}()
	ackedNow := func() int { mu.Lock(); defer mu.Unlock(); return acked }
	testkit.WaitFor(t, 30*time.Second, func() bool { return ackedNow() >= 30 }, "writes before the backup")
	before := ackedNow()
	var backup bytes.Buffer
	require.NoError(t, a[1].Snapshot(ctx, &backup))
	after := ackedNow()
	testkit.WaitFor(t, 30*time.Second, func() bool { return ackedNow() >= after+30 }, "writes after the backup")
	close(stop)
	wg.Wait()
	info, err := consensus.VerifySnapshot(bytes.NewReader(backup.Bytes()))
	require.NoError(t, err)

	// Bad files first: refused with the reason, nothing changed.
	good := backup.Bytes()
	bad := map[string][]byte{
		"truncated": good[:len(good)/2],
		"corrupted": append(bytes.Clone(good[:len(good)-40]), append([]byte{good[len(good)-40] ^ 1}, good[len(good)-39:]...)...),
		"foreign":   []byte("{\"not\": \"a snapshot of this cluster, or of any cluster at all\"}"),
	}
	for name, data := range bad {
		err := bLead.Restore(ctx, bytes.NewReader(data))
		require.ErrorIs(t, err, ErrBadSnapshot, name)
	}
	_, err = bLead.Apply(ctx, []byte("set still serving"))
	require.NoError(t, err)
	for _, n := range b {
		require.Equal(t, "yes", contentsOf(ctx, t, n)["only-in-b"], n.Name())
	}

	// Through a follower, which forwards the stream to the leader.
	var follower *testNode
	for _, n := range b {
		if n != bLead {
			follower = n
		}
	}
	require.ErrorIs(t, follower.Restore(ctx, bytes.NewReader(bad["corrupted"])), ErrBadSnapshot)
	require.NoError(t, follower.Restore(ctx, bytes.NewReader(good)))
	want := contentsOf(ctx, t, bLead)
	m := len(want)
	require.GreaterOrEqual(t, m, before, "the backup holds every write acknowledged before it was asked for")
	require.LessOrEqual(t, m, after+1, "the backup holds no write started after it was taken")
	for i := range m {
		require.Equal(t, fmt.Sprintf("v%d", i), want[fmt.Sprintf("k%d", i)], "k%d", i)
	}
	for _, n := range b {
		require.Equal(t, want, contentsOf(ctx, t, n), n.Name())
	}
	t.Logf("backup at index %d (term %d): %d keys, %d bytes; %d writes acknowledged before, %d after", info.Index, info.Term, m, info.Size, before, after)

	// Cluster B serves on.
	_, err = follower.Apply(ctx, []byte("set after restore"))
	require.NoError(t, err)
}

// A new cluster seeded from a backup: its first server restores it, the
// others join and end with the same contents.
func TestRestoreSeedsAFreshCluster(t *testing.T) {
	a := startServers(t, 1)
	leaderOf(t, a)
	ctx := testkit.Context(t, 60*time.Second)
	for i := range 20 {
		_, err := a[0].Apply(ctx, fmt.Appendf(nil, "set k%d v%d", i, i))
		require.NoError(t, err)
	}
	var backup bytes.Buffer
	require.NoError(t, a[0].Snapshot(ctx, &backup))
	want := contentsOf(ctx, t, a[0])

	b := startServers(t, 1)
	leaderOf(t, b)
	require.NoError(t, b[0].Restore(ctx, &backup))
	for i := range 2 {
		b = append(b, addServer(t, fmt.Sprintf("joiner%d", i), b[0].Local().Address(), nil))
	}
	testkit.WaitFor(t, 60*time.Second, func() bool {
		cfg := configOf(t, b[0])
		return len(cfg) == 3 && voters(cfg) == 3
	}, "3 voters")
	for _, n := range b {
		require.Equal(t, want, contentsOf(ctx, t, n), n.Name())
	}
}

func TestSnapshotNeedsAServer(t *testing.T) {
	n, err := New(Config{Name: "c", BindAddr: "127.0.0.1:0"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = n.Close() })
	require.ErrorIs(t, n.Snapshot(context.Background(), &bytes.Buffer{}), ErrNotServer)
	require.ErrorIs(t, n.Restore(context.Background(), &bytes.Buffer{}), ErrNotServer)
	s, _ := serverConfig(t, "s", t.TempDir(), 1)
	sn, err := New(s)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sn.Close() })
	require.True(t, errors.Is(sn.Snapshot(context.Background(), &bytes.Buffer{}), ErrNotStarted))
}
