package consensus

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/rpc"
	"github.com/conclave-go/conclave/internal/testkit"
)

// fakeLeader answers Conclave's apply methods with outcomes chosen by the
// command: "ok:x" → result "r:x"; "sm:x" → state machine error "x";
// "nl:" → not leader; "lost:" → outcome unknown. Batches wait for gate
// while it is open.
type fakeLeader struct {
	addr string
	stop func() // closes the server: later dials are refused

	mu      sync.Mutex
	batches [][]string // commands of each batch received
	singles []string   // commands received by the single apply method
	gate    chan struct{}
}

func newFakeLeader(t *testing.T, maxSize int) *fakeLeader {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	fl := &fakeLeader{addr: ln.Addr().String()}
	mux, err := rpc.NewMux(ln, rpc.MuxConfig{})
	require.NoError(t, err)
	srv, err := rpc.NewServer(mux.Listen(byteRPC), fl.handle, rpc.ServerConfig{MaxFrame: maxSize + frameOverhead})
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = mux.Serve() }()
	go func() { defer wg.Done(); _ = srv.Serve() }()
	var once sync.Once
	fl.stop = func() {
		once.Do(func() {
			_ = srv.Close() // a held batch gets no reply
			_ = mux.Close()
			fl.open()
			wg.Wait()
		})
	}
	t.Cleanup(fl.stop)
	return fl
}

// hold makes batches wait until open.
func (fl *fakeLeader) hold() {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	fl.gate = make(chan struct{})
}

func (fl *fakeLeader) open() {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if fl.gate != nil {
		close(fl.gate)
		fl.gate = nil
	}
}

// step releases the batches waiting now and holds the later ones.
func (fl *fakeLeader) step() {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	close(fl.gate)
	fl.gate = make(chan struct{})
}

func (fl *fakeLeader) received() (batches [][]string, singles []string) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return append([][]string(nil), fl.batches...), append([]string(nil), fl.singles...)
}

func (fl *fakeLeader) handle(ctx context.Context, method uint8, req []byte) ([]byte, error) {
	switch method {
	case methodApply:
		m, err := decodeApplyRequest(req, minMessageSize)
		if err != nil {
			return nil, err
		}
		fl.mu.Lock()
		fl.singles = append(fl.singles, string(m.cmd))
		fl.mu.Unlock()
		it := fakeOutcome(string(m.cmd))
		if it.kind == itemErr {
			return nil, rpc.Errorf(it.code, "%s", it.payload)
		}
		return result{smErr: it.kind == itemSMErr, payload: it.payload}.encode(), nil
	case methodApplyBatch:
		return fl.handleBatch(ctx, req)
	}
	return nil, rpc.Errorf(rpc.CodeUnknownMethod, "unknown method %d", method)
}

func (fl *fakeLeader) handleBatch(ctx context.Context, req []byte) ([]byte, error) {
	fl.mu.Lock()
	gate := fl.gate
	fl.mu.Unlock()
	m, err := decodeApplyBatchRequest(req, minMessageSize)
	if err != nil {
		return nil, err
	}
	cmds := make([]string, len(m.cmds))
	items := make([]batchItem, len(m.cmds))
	for i, c := range m.cmds {
		cmds[i] = string(c)
		items[i] = fakeOutcome(cmds[i])
	}
	fl.mu.Lock()
	fl.batches = append(fl.batches, cmds)
	fl.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return batchReply{items: items}.encode(), nil
}

func fakeOutcome(cmd string) batchItem {
	op, arg, _ := strings.Cut(cmd, ":")
	switch op {
	case "sm":
		return batchItem{kind: itemSMErr, payload: []byte(arg)}
	case "nl":
		return batchItem{kind: itemErr, code: codeNotLeader, payload: []byte("not the leader")}
	case "lost":
		return batchItem{kind: itemErr, code: codeOutcomeUnknown, payload: []byte("leadership lost")}
	}
	return batchItem{kind: itemOK, payload: []byte("r:" + arg)}
}

func newTestForwarder(t *testing.T) *forwarder {
	r, err := newRemote(nil, nil, minMessageSize, nil)
	require.NoError(t, err)
	f := newForwarder(r, minMessageSize)
	t.Cleanup(func() {
		_ = r.close()
		f.close()
	})
	return f
}

type fwdResult struct {
	data string
	err  error
}

// goApply runs apply (a forwarder's or a Client's) on its own goroutine.
func goApply(ctx context.Context, apply func(context.Context, string, []byte) ([]byte, error), addr, cmd string) <-chan fwdResult {
	ch := make(chan fwdResult, 1)
	go func() {
		data, err := apply(ctx, addr, []byte(cmd))
		ch <- fwdResult{string(data), err}
	}()
	return ch
}

// waitQueued waits until n calls to addr are queued in f.
func waitQueued(t *testing.T, f *forwarder, addr string, n int) {
	t.Helper()
	testkit.WaitFor(t, 10*time.Second, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		p := f.peers[addr]
		return p != nil && len(p.queue) == n
	}, "%d queued calls", n)
}

func waitBatches(t *testing.T, fl *fakeLeader, n int) [][]string {
	t.Helper()
	var batches [][]string
	testkit.WaitFor(t, 10*time.Second, func() bool {
		batches, _ = fl.received()
		return len(batches) >= n
	}, "%d batches at the leader", n)
	return batches
}

// Calls that arrive while a batch is in flight leave together in the next
// one, and each caller gets its own command's outcome; a lone call leaves
// at once.
func TestForwarderCoalescesWhileInFlight(t *testing.T) {
	fl := newFakeLeader(t, minMessageSize)
	f := newTestForwarder(t)
	ctx := testkit.Context(t, 30*time.Second)

	data, err := f.apply(ctx, fl.addr, []byte("ok:alone"))
	require.NoError(t, err)
	require.Equal(t, "r:alone", string(data))

	fl.hold()
	first := goApply(ctx, f.apply, fl.addr, "ok:first")
	waitBatches(t, fl, 2)
	var rest []<-chan fwdResult
	for i := range 20 {
		rest = append(rest, goApply(ctx, f.apply, fl.addr, fmt.Sprintf("ok:%d", i)))
	}
	waitQueued(t, f, fl.addr, 20)
	fl.open()
	r := <-first
	require.NoError(t, r.err)
	require.Equal(t, "r:first", r.data)
	for i, ch := range rest {
		r := <-ch
		require.NoError(t, r.err)
		require.Equal(t, fmt.Sprintf("r:%d", i), r.data)
	}
	batches, singles := fl.received()
	require.Empty(t, singles)
	require.Len(t, batches, 3)
	require.Len(t, batches[2], 20, "the queued calls left in one batch")
}

// Each command of a batch gets the outcome an unbatched forward gives it.
func TestForwarderMixedOutcomes(t *testing.T) {
	fl := newFakeLeader(t, minMessageSize)
	f := newTestForwarder(t)
	ctx := testkit.Context(t, 30*time.Second)
	fl.hold()
	block := goApply(ctx, f.apply, fl.addr, "ok:block")
	waitBatches(t, fl, 1)
	cmds := []string{"ok:a", "sm:boom", "nl:", "ok:b", "lost:"}
	var chs []<-chan fwdResult
	for _, c := range cmds {
		chs = append(chs, goApply(ctx, f.apply, fl.addr, c))
	}
	waitQueued(t, f, fl.addr, len(cmds))
	fl.open()
	require.NoError(t, (<-block).err)
	res := make([]fwdResult, len(chs))
	for i, ch := range chs {
		res[i] = <-ch
	}
	require.NoError(t, res[0].err)
	require.Equal(t, "r:a", res[0].data)
	var sme *StateMachineError
	require.ErrorAs(t, res[1].err, &sme)
	require.Equal(t, "boom", sme.Err.Error())
	require.ErrorIs(t, res[2].err, ErrNotLeader)
	require.True(t, isRetryable(res[2].err), "not leader is retried")
	require.NoError(t, res[3].err)
	require.Equal(t, "r:b", res[3].data)
	require.ErrorIs(t, res[4].err, ErrOutcomeUnknown)
	require.False(t, isRetryable(res[4].err))
	batches := waitBatches(t, fl, 2)
	require.ElementsMatch(t, cmds, batches[1])
}

// A caller whose ctx ends while its call is queued gets ctx's error and its
// command is never sent; one whose call is in flight gets
// ErrOutcomeUnknown; neither disturbs the other calls.
func TestForwarderCallerCancel(t *testing.T) {
	fl := newFakeLeader(t, minMessageSize)
	f := newTestForwarder(t)
	ctx := testkit.Context(t, 30*time.Second)
	fl.hold()
	inFlightCtx, cancelInFlight := context.WithCancel(ctx)
	defer cancelInFlight()
	inFlight := goApply(inFlightCtx, f.apply, fl.addr, "ok:sent")
	waitBatches(t, fl, 1)

	queuedCtx, cancelQueued := context.WithCancel(ctx)
	defer cancelQueued()
	queued := goApply(queuedCtx, f.apply, fl.addr, "ok:never")
	other := goApply(ctx, f.apply, fl.addr, "ok:other")
	waitQueued(t, f, fl.addr, 2)

	cancelQueued()
	r := <-queued
	require.ErrorIs(t, r.err, context.Canceled)
	require.NotErrorIs(t, r.err, ErrOutcomeUnknown, "the queued command was never sent")

	cancelInFlight()
	r = <-inFlight
	require.ErrorIs(t, r.err, ErrOutcomeUnknown)
	require.ErrorIs(t, r.err, context.Canceled)

	fl.open()
	r = <-other
	require.NoError(t, r.err)
	require.Equal(t, "r:other", r.data)
	batches := waitBatches(t, fl, 2)
	require.Equal(t, [][]string{{"ok:sent"}, {"ok:other"}}, batches)
}

// One caller giving up does not cancel the batch the others share.
func TestForwarderCancelInSharedBatch(t *testing.T) {
	fl := newFakeLeader(t, minMessageSize)
	f := newTestForwarder(t)
	ctx := testkit.Context(t, 30*time.Second)
	fl.hold()
	block := goApply(ctx, f.apply, fl.addr, "ok:block")
	waitBatches(t, fl, 1)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	gone := goApply(cctx, f.apply, fl.addr, "ok:gone")
	stays := goApply(ctx, f.apply, fl.addr, "ok:stays")
	waitQueued(t, f, fl.addr, 2)
	fl.step()
	require.NoError(t, (<-block).err)
	waitBatches(t, fl, 2)
	cancel()
	r := <-gone
	require.ErrorIs(t, r.err, ErrOutcomeUnknown)
	fl.open()
	r = <-stays
	require.NoError(t, r.err)
	require.Equal(t, "r:stays", r.data)
}

// Batches respect the byte budget and the count limit.
func TestForwarderBatchLimits(t *testing.T) {
	f := &forwarder{maxSize: minMessageSize, peers: make(map[string]*fwdPeer)}
	take := func(cmds ...[]byte) int {
		p := &fwdPeer{sending: 1}
		for _, c := range cmds {
			p.queue = append(p.queue, &fwdCall{ctx: context.Background(), cmd: c})
		}
		f.peers["a"] = p
		b := f.next("a", p)
		require.NotNil(t, b)
		size := 0
		for _, c := range b.calls {
			size += batchCmdSize(c.cmd)
		}
		require.LessOrEqual(t, batchRequestSize(len(b.calls), size), batchBudget(f.maxSize))
		return len(b.calls)
	}
	big := make([]byte, 600)
	require.Equal(t, 2, take(big, big, big, big, big))
	require.Equal(t, 1, take(make([]byte, minMessageSize), big))
	var tiny [][]byte
	for range maxBatchCount + 10 {
		tiny = append(tiny, []byte("abc"))
	}
	// 1536 bytes of budget: the header, a 2-byte count and 383 commands
	// of 4 bytes (a length and 3 bytes).
	require.Equal(t, 383, take(tiny...), "the byte budget counts each command's length")
	f.maxSize = DefaultMaxMessageSize
	require.Equal(t, maxBatchCount, take(tiny...))
}
