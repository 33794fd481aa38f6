package consensus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/testkit"
)

func newTestClient(t *testing.T, maxSize int) *Client {
	cl, err := NewClient(ClientConfig{MaxMessageSize: maxSize, Logger: testkit.Logger(t)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// The client learns the leader from a follower it writes through; writes
// named to the leader then travel in batches, each applied exactly once
// with its own result.
func TestClientBatchesWritesToLeader(t *testing.T) {
	c := newCluster(t, 3)
	cl := newTestClient(t, 0)
	ctx := testkit.Context(t, 60*time.Second)
	l, fi := c.waitReadyLeader(), c.follower()
	leaderAddr := c.nodes[l].Addr()
	testkit.WaitFor(t, 20*time.Second, func() bool {
		_, err := cl.Apply(ctx, c.nodes[fi].Addr(), []byte("set:warm=1"))
		require.NoError(t, err)
		return cl.LeaderAddr() == leaderAddr
	}, "the client learns the leader")

	gate := make(chan struct{})
	var release sync.Once
	open := func() { release.Do(func() { close(gate) }) }
	t.Cleanup(open) // before the nodes close
	c.fsms[l].mu.Lock()
	c.fsms[l].gate = gate
	c.fsms[l].mu.Unlock()
	block := goApply(ctx, cl.Apply, leaderAddr, "block:")
	testkit.WaitFor(t, 10*time.Second, func() bool {
		cl.fwd.mu.Lock()
		defer cl.fwd.mu.Unlock()
		p := cl.fwd.peers[leaderAddr]
		return p != nil && p.sending == 1 && len(p.queue) == 0
	}, "the first write in flight")
	const n = 40
	want := make(map[string]int)
	var rest []<-chan fwdResult
	for i := range n {
		cmd := fmt.Sprintf("echo:%d", i)
		want[cmd] = 1
		rest = append(rest, goApply(ctx, cl.Apply, leaderAddr, cmd))
	}
	waitQueued(t, cl.fwd, leaderAddr, n)
	open()
	r := <-block
	require.NoError(t, r.err)
	require.Equal(t, "unblocked", r.data)
	for i, ch := range rest {
		r := <-ch
		require.NoError(t, r.err)
		require.Equal(t, fmt.Sprintf("echo:%d", i), r.data)
	}
	c.waitSeen(t, want)
	require.Equal(t, leaderAddr, cl.LeaderAddr())
}

// Each outcome of a write sent straight to the known leader is the one an
// unbatched write gives; a write that certainly did not run there is sent
// again on its own (the server forwards it) and the leader is forgotten; a
// write whose outcome is unknown is never sent again.
func TestClientLeaderOutcomes(t *testing.T) {
	fl := newFakeLeader(t, minMessageSize)
	cl := newTestClient(t, minMessageSize)
	ctx := testkit.Context(t, 30*time.Second)
	know := func() {
		cl.leader.mu.Lock()
		cl.leader.addr = fl.addr
		cl.leader.mu.Unlock()
	}

	know()
	data, err := cl.Apply(ctx, fl.addr, []byte("ok:a"))
	require.NoError(t, err)
	require.Equal(t, "r:a", string(data))
	_, err = cl.Apply(ctx, fl.addr, []byte("sm:boom"))
	var sme *StateMachineError
	require.ErrorAs(t, err, &sme)
	require.Equal(t, "boom", sme.Err.Error())
	require.Equal(t, fl.addr, cl.LeaderAddr(), "still the leader")

	_, err = cl.Apply(ctx, fl.addr, []byte("lost:"))
	require.ErrorIs(t, err, ErrOutcomeUnknown)
	require.Empty(t, cl.LeaderAddr(), "forgotten after an unknown outcome")

	know()
	_, err = cl.Apply(ctx, fl.addr, []byte("nl:"))
	require.ErrorIs(t, err, ErrUnavailable)
	require.ErrorIs(t, err, ErrNotLeader)
	require.Empty(t, cl.LeaderAddr(), "forgotten after not-leader")

	batches, singles := fl.received()
	require.Equal(t, [][]string{{"ok:a"}, {"sm:boom"}, {"lost:"}, {"nl:"}}, batches)
	require.Equal(t, []string{"nl:"}, singles, "only the write that did not run went again")
}

// The known leader vanishes with a write in flight and more queued behind
// it: the write in flight ends with ErrOutcomeUnknown; the queued ones never
// reach it and end with ErrUnavailable (the caller may try another server),
// or with ErrOutcomeUnknown when they went out on a pooled connection whose
// loss was not yet seen.
func TestClientLeaderGoneMidBatch(t *testing.T) {
	fl := newFakeLeader(t, minMessageSize)
	cl := newTestClient(t, minMessageSize)
	ctx := testkit.Context(t, 30*time.Second)
	cl.leader.mu.Lock()
	cl.leader.addr = fl.addr
	cl.leader.mu.Unlock()

	fl.hold()
	inFlight := goApply(ctx, cl.Apply, fl.addr, "ok:sent")
	waitBatches(t, fl, 1)
	var queued []<-chan fwdResult
	for i := range 5 {
		queued = append(queued, goApply(ctx, cl.Apply, fl.addr, fmt.Sprintf("ok:%d", i)))
	}
	waitQueued(t, cl.fwd, fl.addr, 5)
	fl.stop()

	r := <-inFlight
	require.ErrorIs(t, r.err, ErrOutcomeUnknown)
	require.NotErrorIs(t, r.err, ErrUnavailable)
	for _, ch := range queued {
		r := <-ch
		require.True(t, errors.Is(r.err, ErrUnavailable) != errors.Is(r.err, ErrOutcomeUnknown),
			"want ErrUnavailable or ErrOutcomeUnknown, got %v", r.err)
	}
	batches, singles := fl.received()
	require.Equal(t, [][]string{{"ok:sent"}}, batches)
	require.Empty(t, singles)
	require.Empty(t, cl.LeaderAddr())
}

// Writers through a client, sent to the leader it knows and to the next
// server when a server is unavailable, while the leader is closed under
// them: each gets its own result or ErrOutcomeUnknown; no command is
// applied twice, every acknowledged one is applied, and the client learns
// the new leader.
func TestClientWritesLeaderKilled(t *testing.T) {
	c := newCluster(t, 3)
	old := c.waitReadyLeader()
	cl := newTestClient(t, 0)
	ctx := testkit.Context(t, 60*time.Second)
	var addrs []string
	for _, nd := range c.nodes {
		addrs = append(addrs, nd.Addr())
	}
	w := startWriters(ctx, 32, func(cmd string) ([]byte, error) { return clientWrite(ctx, cl, addrs, cmd) })
	testkit.WaitFor(t, 20*time.Second, func() bool {
		return w.total.Load() >= 200 && cl.LeaderAddr() == addrs[old]
	}, "writes to the leader before the kill")
	require.NoError(t, c.nodes[old].Close())
	c.nodes[old] = nil
	before := w.total.Load()
	testkit.WaitFor(t, 30*time.Second, func() bool {
		l := c.leader()
		return w.total.Load() >= before+200 && l >= 0 && cl.LeaderAddr() == addrs[l]
	}, "writes after the kill, to the new leader")
	w.stopAndCheck(t, c)
}

// clientWrite sends cmd through cl as a client node does: to the leader it
// knows first, then to each server in turn while they are unavailable,
// until ctx ends.
func clientWrite(ctx context.Context, cl *Client, addrs []string, cmd string) ([]byte, error) {
	for ctx.Err() == nil {
		order := append([]string{cl.LeaderAddr()}, addrs...)
		for _, a := range order {
			if a == "" {
				continue
			}
			res, err := cl.Apply(ctx, a, []byte(cmd))
			if !errors.Is(err, ErrUnavailable) {
				return res, err
			}
		}
	}
	return nil, ctx.Err()
}
