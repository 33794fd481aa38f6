package consensus

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/conclave-go/conclave/internal/rpc"
	"github.com/conclave-go/conclave/internal/stats"
)

// maxBatchesInFlight bounds the batch requests in flight to one leader.
// Calls arriving meanwhile queue and leave together in the next batch. One
// gives the leader the fullest Raft rounds: a round costs far more CPU than
// the RPC, and with two batches in flight callers split into two halves
// that commit in separate rounds (measured: 0.6-0.9x of leader throughput
// at 16-64 callers with two, 0.9-1.1x with one).
const maxBatchesInFlight = 1

// forwarder sends a follower's forwarded applies to the leader, coalescing
// the calls that arrive while a batch is in flight into the next batch.
// There is no waiting window: a call to an idle leader leaves at once.
type forwarder struct {
	r          *remote
	maxSize    int
	batchSizes *stats.Histogram // nil: not recorded

	mu     sync.Mutex // guards the fields below
	peers  map[string]*fwdPeer
	closed bool

	wg sync.WaitGroup // batch senders
}

// fwdPeer is the queue of calls to one leader address.
type fwdPeer struct {
	queue   []*fwdCall
	sending int // sender goroutines (each has at most one batch in flight)
}

// States of a fwdCall, changed under forwarder.mu.
const (
	fwdQueued    = iota // in its peer's queue
	fwdTaken            // in a batch: it may have been sent
	fwdAbandoned        // its caller gave up while it was queued: never sent
)

// fwdCall is one forwarded apply.
type fwdCall struct {
	ctx   context.Context
	cmd   []byte
	state int       // guarded by forwarder.mu
	batch *fwdBatch // set when taken; guarded by forwarder.mu
	done  chan fwdOutcome
}

type fwdOutcome struct {
	data []byte
	err  error
}

// fwdBatch is a batch in flight. Its context is not any caller's: one
// caller giving up never cancels the others. It ends at the latest of the
// callers' deadlines, or when every caller has given up.
type fwdBatch struct {
	calls   []*fwdCall
	ctx     context.Context
	cancel  context.CancelFunc
	waiting atomic.Int32 // callers still waiting for the outcome
}

func newForwarder(r *remote, maxSize int) *forwarder {
	return &forwarder{r: r, maxSize: maxSize, peers: make(map[string]*fwdPeer)}
}

// apply forwards cmd to the leader at addr, with the outcomes of
// remote.apply: retryable when the command certainly did not run,
// ErrOutcomeUnknown when it may have.
func (f *forwarder) apply(ctx context.Context, addr string, cmd []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := &fwdCall{ctx: ctx, cmd: cmd, done: make(chan fwdOutcome, 1)}
	queued, err := f.enqueue(addr, c)
	if err != nil {
		return nil, err
	}
	if !queued {
		return f.r.apply(ctx, addr, true, cmd)
	}
	select {
	case o := <-c.done:
		return o.data, o.err
	case <-ctx.Done():
		return f.abandon(addr, c)
	}
}

// enqueue queues c for addr and starts a sender when fewer than
// maxBatchesInFlight run. It reports false for a command too large for a
// batch, which goes singly.
func (f *forwarder) enqueue(addr string, c *fwdCall) (bool, error) {
	if batchRequestSize(1, batchCmdSize(c.cmd)) > batchBudget(f.maxSize) {
		return false, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false, retryable(rpc.ErrClosed)
	}
	p := f.peers[addr]
	if p == nil {
		p = &fwdPeer{}
		f.peers[addr] = p
	}
	p.queue = append(p.queue, c)
	if p.sending < maxBatchesInFlight {
		p.sending++
		f.wg.Add(1)
		go f.send(addr, p)
	}
	return true, nil
}

// abandon ends a call whose ctx ended: a queued call leaves the queue and is
// never sent; a call in a batch may have been applied.
func (f *forwarder) abandon(addr string, c *fwdCall) ([]byte, error) {
	f.mu.Lock()
	state, b := c.state, c.batch
	if state == fwdQueued {
		c.state = fwdAbandoned
		p := f.peers[addr]
		for i, q := range p.queue {
			if q == c {
				p.queue = append(p.queue[:i:i], p.queue[i+1:]...)
				break
			}
		}
	}
	f.mu.Unlock()
	switch state {
	case fwdQueued:
		return nil, c.ctx.Err()
	case fwdAbandoned: // failed by close, which delivered the outcome
		o := <-c.done
		return o.data, o.err
	}
	select {
	case o := <-c.done: // the outcome arrived as ctx ended: it is the truth
		return o.data, o.err
	default:
	}
	if b.waiting.Add(-1) == 0 {
		b.cancel()
	}
	return nil, outcomeUnknown(c.ctx.Err())
}

// send sends batches to addr until the queue is empty.
func (f *forwarder) send(addr string, p *fwdPeer) {
	defer f.wg.Done()
	for {
		b := f.next(addr, p)
		if b == nil {
			return
		}
		for i, o := range f.call(addr, b) {
			b.calls[i].done <- o // callers that gave up ignore it
		}
		b.cancel()
		// Let the callers just answered run first: those that apply again
		// at once then join the next batch instead of the one after it.
		runtime.Gosched()
	}
}

// next takes the next batch from p's queue, or retires the sender when the
// queue is empty.
func (f *forwarder) next(addr string, p *fwdPeer) *fwdBatch {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, size := 0, 0
	for n < len(p.queue) && n < maxBatchCount {
		cmdSize := batchCmdSize(p.queue[n].cmd)
		if n > 0 && batchRequestSize(n+1, size+cmdSize) > batchBudget(f.maxSize) {
			break
		}
		size += cmdSize
		n++
	}
	if n == 0 {
		p.sending--
		if p.sending == 0 {
			delete(f.peers, addr)
		}
		return nil
	}
	if f.batchSizes != nil {
		f.batchSizes.Observe(float64(n))
	}
	b := &fwdBatch{calls: make([]*fwdCall, n)}
	copy(b.calls, p.queue[:n])
	p.queue = append(p.queue[:0:0], p.queue[n:]...)
	b.ctx, b.cancel = batchContext(b.calls)
	b.waiting.Store(int32(n))
	for _, c := range b.calls {
		c.state, c.batch = fwdTaken, b
	}
	return b
}

// batchContext returns a context ending at the latest of the calls'
// deadlines, or with no deadline when one of them has none.
func batchContext(calls []*fwdCall) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, c := range calls {
		dl, ok := c.ctx.Deadline()
		if !ok {
			return context.WithCancel(context.Background())
		}
		if dl.After(latest) {
			latest = dl
		}
	}
	return context.WithDeadline(context.Background(), latest)
}

// call sends b and returns each command's outcome.
func (f *forwarder) call(addr string, b *fwdBatch) []fwdOutcome {
	req := applyBatchRequest{header: header{forwarded: true}, cmds: make([][]byte, len(b.calls))}
	for i, c := range b.calls {
		req.cmds[i] = c.cmd
	}
	out := make([]fwdOutcome, len(b.calls))
	resp, err := f.r.client.Call(b.ctx, addr, methodApplyBatch, req.encode())
	var reply batchReply
	if err == nil {
		reply, err = decodeBatchReply(resp, f.maxSize)
		if err == nil && len(reply.items) != len(b.calls) {
			err = fmt.Errorf("%w: batch reply has %d items for %d commands", ErrProtocol, len(reply.items), len(b.calls))
		}
		if err != nil {
			err = outcomeUnknown(err)
		}
	}
	for i, c := range b.calls {
		switch {
		case err == nil:
			out[i].data, out[i].err = reply.items[i].value()
		case errors.Is(err, ErrOutcomeUnknown):
			out[i].err = err
		default:
			out[i].err = callError(c.ctx, err, true)
		}
	}
	return out
}

// close fails the queued calls (never sent) and waits for the senders,
// whose calls fail once the remote is closed.
func (f *forwarder) close() {
	f.mu.Lock()
	f.closed = true
	for _, p := range f.peers {
		for _, c := range p.queue {
			c.state = fwdAbandoned
			c.done <- fwdOutcome{err: retryable(rpc.ErrClosed)}
		}
		p.queue = nil
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// value turns a batch reply item into the caller's return values, as the
// unbatched reply would give them.
func (it batchItem) value() ([]byte, error) {
	switch it.kind {
	case itemOK:
		return it.payload, nil
	case itemSMErr:
		return nil, &StateMachineError{Err: errors.New(string(it.payload))}
	case itemErr:
		return nil, remoteError(it.code, &rpc.RemoteError{Code: it.code, Message: string(it.payload)}, true)
	default:
		return nil, outcomeUnknown(errors.New("consensus: remote: the command was applied but the batch reply had no room for its result"))
	}
}

// leaderChangeGrace is how long calls still pending to a replaced leader
// may wait for their answers (a leader that stepped down answers them at
// once) before they are failed.
const leaderChangeGrace = 100 * time.Millisecond

// abandonLeader fails the RPCs still pending to the leader at addr, which
// another leader has replaced, after leaderChangeGrace: when its host
// vanished without a reset they would otherwise wait for their deadlines.
// A write among them ends with ErrOutcomeUnknown (the old leader may have
// committed it); a read is retried. It never blocks.
func (n *Node) abandonLeader(addr string) {
	n.spawn(func() {
		t := time.NewTimer(leaderChangeGrace)
		defer t.Stop()
		select {
		case <-t.C:
		case <-n.closing:
			return
		}
		if n.Leader().Addr == addr {
			return // it leads again
		}
		n.logger.Debug("failing calls pending to the previous leader", "addr", addr)
		n.remote.client.CloseAddr(addr)
	})
}
