package consensus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/rpc/rpctest"
	"github.com/conclave-go/conclave/internal/testkit"
)

func TestSnapshotFormatRoundTrip(t *testing.T) {
	var b bytes.Buffer
	info := SnapshotInfo{Index: 42, Term: 3, Size: 5}
	require.NoError(t, writeBackup(&b, info, strings.NewReader("hello")))
	got, err := VerifySnapshot(bytes.NewReader(b.Bytes()))
	require.NoError(t, err)
	require.Equal(t, info, got)
	var payload bytes.Buffer
	_, err = readBackup(bytes.NewReader(b.Bytes()), &payload)
	require.NoError(t, err)
	require.Equal(t, "hello", payload.String())

	for name, tc := range badSnapshots(b.Bytes()) {
		_, err := VerifySnapshot(bytes.NewReader(tc.data))
		require.ErrorIs(t, err, ErrBadSnapshot, name)
		require.ErrorContains(t, err, tc.reason, name)
	}
	require.ErrorContains(t, writeBackup(&b, SnapshotInfo{Index: 1, Term: 1, Size: 10}, strings.NewReader("short")), "ended after 5 of 10 bytes")
}

type badCase struct {
	data   []byte
	reason string
}

// badSnapshots derives, from a good snapshot stream, every kind of stream
// Restore must refuse.
func badSnapshots(good []byte) map[string]badCase {
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x40
		return b
	}
	version := bytes.Clone(good)
	version[len(backupMagic)] = 9
	return map[string]badCase{
		"empty":              {nil, "empty stream"},
		"foreign":            {[]byte(`{"some": "json document", "that is": "long enough to fill a header"}`), "not a Conclave snapshot"},
		"short foreign":      {[]byte("PK\x03"), "not a Conclave snapshot"},
		"truncated header":   {good[:backupHeaderSize-3], "truncated header"},
		"truncated payload":  {good[:backupHeaderSize+1], "truncated payload"},
		"truncated checksum": {good[:len(good)-4], "truncated checksum"},
		"corrupted payload":  {flip(backupHeaderSize), "checksum mismatch"},
		"corrupted index":    {flip(len(backupMagic) + 5), "checksum mismatch"},
		"corrupted checksum": {flip(len(good) - 1), "checksum mismatch"},
		"other version":      {version, "format version 9"},
		"trailing data":      {append(bytes.Clone(good), 'x'), "data after the checksum"},
	}
}

// contents reads node i's whole state through a linearizable read.
func (c *testCluster) contents(ctx context.Context, i int) map[string]string {
	c.t.Helper()
	var out map[string]string
	require.NoError(c.t, c.nodes[i].Read(ctx, Linearizable, func(StateMachine) error {
		c.fsms[i].mu.RLock()
		defer c.fsms[i].mu.RUnlock()
		out = make(map[string]string, len(c.fsms[i].data))
		for k, v := range c.fsms[i].data {
			out[k] = v
		}
		return nil
	}))
	return out
}

// Snapshot under write load holds exactly the writes up to its index;
// restored into another group, every server of it ends with that state.
func TestSnapshotRestoreIntoAnotherGroup(t *testing.T) {
	a := newCluster(t, 3)
	t.Cleanup(a.closeAll)
	b := newCluster(t, 3)
	t.Cleanup(b.closeAll)
	ctx := testkit.Context(t, 60*time.Second)
	a.waitReadyLeader()
	bl := b.waitReadyLeader()
	b.apply(ctx, bl, "set:only-in-b=1")

	// Writes to A keep going while the snapshot is taken, one key after
	// another, so the snapshot must hold a prefix of them.
	var stop atomic.Bool
	var wg sync.WaitGroup
	written := make(map[string]bool)
	var mu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			k := fmt.Sprintf("k%d", i)
			if _, err := a.nodes[i%3].Apply(ctx, []byte("set:"+k+"=v")); err != nil {
				i-- // the same key again: the next one must not overtake it
				continue
			}
			mu.Lock()
			written[k] = true
			mu.Unlock()
		}
	}()
	testkit.WaitFor(t, 20*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(written) >= 20 }, "writes before the snapshot")
	mu.Lock()
	before := len(written)
	mu.Unlock()
	var snap bytes.Buffer
	require.NoError(t, a.nodes[a.follower()].Snapshot(ctx, &snap))
	testkit.WaitFor(t, 20*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(written) >= before+20 }, "writes after the snapshot")
	stop.Store(true)
	wg.Wait()

	info, err := VerifySnapshot(bytes.NewReader(snap.Bytes()))
	require.NoError(t, err)
	require.Positive(t, info.Index)

	var follower int
	for i := range b.nodes {
		if i != bl {
			follower = i
		}
	}
	// Through a follower: the stream is forwarded to the leader.
	require.NoError(t, b.nodes[follower].Restore(ctx, bytes.NewReader(snap.Bytes())))

	// The snapshot holds every write acknowledged before it was asked for,
	// and is a prefix of A's writes: keys are written in order.
	want := b.contents(ctx, bl)
	require.GreaterOrEqual(t, len(want), before)
	for i := range len(want) {
		require.Contains(t, want, fmt.Sprintf("k%d", i))
	}
	require.NotContains(t, want, "only-in-b")
	for i := range b.nodes {
		testkit.WaitFor(t, 20*time.Second, func() bool { return len(b.contents(ctx, i)) == len(want) }, "server %d restored", i)
		require.Equal(t, want, b.contents(ctx, i), "server %d", i)
	}
	b.apply(ctx, follower, "set:after=restore")
	for i := range b.nodes {
		require.Equal(t, "restore", b.contents(ctx, i)["after"], "server %d", i)
	}
}

// Every bad stream is refused before anything changes, and the group keeps
// serving.
func TestRestoreRefusesBadSnapshots(t *testing.T) {
	c := newCluster(t, 3)
	t.Cleanup(c.closeAll)
	ctx := testkit.Context(t, 60*time.Second)
	l := c.waitReadyLeader()
	c.apply(ctx, l, "set:a=1")
	var good bytes.Buffer
	require.NoError(t, c.nodes[l].Snapshot(ctx, &good))
	c.apply(ctx, l, "set:b=2")
	before := c.contents(ctx, l)
	f := c.follower()
	for name, tc := range badSnapshots(good.Bytes()) {
		for _, i := range []int{l, f} { // on the leader, and forwarded to it
			err := c.nodes[i].Restore(ctx, bytes.NewReader(tc.data))
			require.ErrorIs(t, err, ErrBadSnapshot, "%s via %d", name, i)
			require.ErrorContains(t, err, tc.reason, "%s via %d", name, i)
		}
	}
	for _, i := range []int{l, f} {
		err := c.nodes[i].Restore(ctx, iotestErrReader{})
		require.ErrorContains(t, err, "disk on fire")
		require.NotErrorIs(t, err, ErrBadSnapshot)
	}
	c.apply(ctx, l, "set:c=3")
	after := c.contents(ctx, l)
	require.Equal(t, "3", after["c"])
	delete(after, "c")
	require.Equal(t, before, after)
	entries, err := filepathGlob(c.cfgs[l].DataDir, "restore-*")
	require.NoError(t, err)
	require.Empty(t, entries, "no spool file left behind")
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func filepathGlob(dir, pattern string) ([]string, error) {
	return filepath.Glob(filepath.Join(dir, pattern))
}

// A follower forwards a restore over mutual TLS like any other request.
func TestRestoreForwardedOverTLS(t *testing.T) {
	ca := rpctest.NewCA(t)
	c := newCluster(t, 3, func(_ int, cfg *Config) { cfg.TLS = mutualTLS(t, ca) })
	t.Cleanup(c.closeAll)
	ctx := testkit.Context(t, 30*time.Second)
	f := c.follower()
	c.apply(ctx, f, "set:x=1")
	var snap bytes.Buffer
	require.NoError(t, c.nodes[f].Snapshot(ctx, &snap))
	c.apply(ctx, f, "set:x=2")
	require.NoError(t, c.nodes[f].Restore(ctx, &snap))
	for i := range c.nodes {
		require.Equal(t, "1", c.contents(ctx, i)["x"], "node %d", i)
	}
}

// Megabytes of state go through Snapshot and a forwarded Restore in many
// chunks, and come back intact.
func TestRestoreLargeSnapshotThroughFollower(t *testing.T) {
	c := newCluster(t, 3)
	t.Cleanup(c.closeAll)
	ctx := testkit.Context(t, 60*time.Second)
	f := c.follower()
	const keys, size = 16, 128 << 10 // 2 MiB
	value := func(k int) string { return strings.Repeat(string(rune('a'+k%26)), size) }
	for k := range keys {
		c.apply(ctx, k%3, fmt.Sprintf("set:k%d=%s", k, value(k)))
	}
	var snap bytes.Buffer
	require.NoError(t, c.nodes[f].Snapshot(ctx, &snap))
	require.Greater(t, snap.Len(), keys*size)
	c.apply(ctx, f, "set:k0=changed")
	c.apply(ctx, f, "set:extra=1")
	require.NoError(t, c.nodes[f].Restore(ctx, bytes.NewReader(snap.Bytes())))
	for i := range c.nodes {
		got := c.contents(ctx, i)
		require.Len(t, got, keys, "node %d", i)
		for k := range keys {
			require.Equal(t, value(k), got[fmt.Sprintf("k%d", k)], "node %d k%d", i, k)
		}
	}
}
