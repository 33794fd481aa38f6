package rpc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// sendQueueSize is how many requests may wait for a connection's writer.
const sendQueueSize = 128

// States of a call, moved forward by compare-and-swap: the writer moves a
// queued call to taken just before encoding it; the caller moves it to
// abandoned when it gives up first. Whoever wins decides whether the request
// may have been sent.
const (
	callQueued int32 = iota
	callTaken
	callAbandoned
)

// call is one request in flight.
type call struct {
	id    uint64
	frame Frame
	state atomic.Int32
	done  chan result // capacity 1; receives exactly one result
}

// result is what ends a call.
type result struct {
	payload []byte
	remote  *RemoteError // the handler's error
	err     error        // the connection's failure
}

// clientConn is one pipelined connection: dialled in the background, then
// served by a writer and a reader goroutine.
type clientConn struct {
	c          *Client
	addr       string
	cancelDial context.CancelFunc

	ready   chan struct{} // closed when the dial has finished
	dialErr error         // set before ready is closed
	dead    chan struct{} // closed by fail

	sendq chan *call

	mu      sync.Mutex // guards the fields below
	nc      net.Conn
	pending map[uint64]*call // nil once failed
	nextID  uint64
	deadErr error

	inflight atomic.Int64 // len(pending), readable without mu
}

func newClientConn(c *Client, addr string, cancelDial context.CancelFunc) *clientConn {
	return &clientConn{
		c:          c,
		addr:       addr,
		cancelDial: cancelDial,
		ready:      make(chan struct{}),
		dead:       make(chan struct{}),
		sendq:      make(chan *call, sendQueueSize),
		pending:    make(map[uint64]*call),
	}
}

func (cc *clientConn) isDialing() bool {
	select {
	case <-cc.ready:
		return false
	default:
		return true
	}
}

func (cc *clientConn) isLive() bool {
	select {
	case <-cc.dead:
		return false
	case <-cc.ready:
		return cc.dialErr == nil
	default:
		return false
	}
}

func (cc *clientConn) load() int64 { return cc.inflight.Load() }

// err returns why the connection failed.
func (cc *clientConn) err() error {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.deadErr
}

// dialAndRun dials, then starts the reader and the writer.
func (cc *clientConn) dialAndRun(ctx context.Context) {
	defer cc.c.wg.Done()
	defer close(cc.ready)
	nc, err := cc.c.dial(ctx, cc.addr)
	cc.cancelDial()
	cc.c.noteDial(cc.addr, err)
	cc.mu.Lock()
	if err == nil && cc.deadErr != nil {
		_ = nc.Close()
		err = cc.deadErr
	}
	if err != nil {
		if cc.c.ctx.Err() != nil {
			err = ErrClosed
		}
		cc.dialErr = fmt.Errorf("rpc: dial %s: %w", cc.addr, err)
		cc.mu.Unlock()
		cc.c.log.Debug("rpc: dial failed", "addr", cc.addr, "err", err)
		cc.fail(cc.dialErr)
		return
	}
	cc.nc = nc
	cc.mu.Unlock()
	cc.c.wg.Add(2)
	go cc.readLoop()
	go cc.writeLoop()
}

// fail closes the connection and ends every call registered on it with err.
// Only the first failure counts.
func (cc *clientConn) fail(err error) {
	cc.mu.Lock()
	if cc.deadErr != nil {
		cc.mu.Unlock()
		return
	}
	cc.deadErr = err
	pending := cc.pending
	cc.pending = nil
	cc.inflight.Store(0)
	nc := cc.nc
	cc.mu.Unlock()

	close(cc.dead)
	cc.cancelDial()
	if nc != nil {
		_ = nc.Close()
		cc.logFailure(err)
	}
	cc.c.remove(cc)
	for _, cl := range pending {
		cl.done <- result{err: err}
	}
}

func (cc *clientConn) logFailure(err error) {
	switch {
	case errors.Is(err, ErrClosed):
	case errors.Is(err, errClosedByCaller), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed):
		cc.c.log.Debug("rpc: client connection lost", "addr", cc.addr, "err", err)
	default:
		cc.c.log.Warn("rpc: client connection lost", "addr", cc.addr, "err", err)
	}
}

// register gives cl an id and records it as in flight; false when the
// connection has failed.
func (cc *clientConn) register(cl *call) bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.pending == nil {
		return false
	}
	cc.nextID++
	cl.id = cc.nextID
	cc.pending[cl.id] = cl
	cc.inflight.Add(1)
	return true
}

// take removes and returns the call with id, or nil when there is none
// (its caller gave up, or the connection failed).
func (cc *clientConn) take(id uint64) *call {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cl := cc.pending[id]
	if cl != nil {
		delete(cc.pending, id)
		cc.inflight.Add(-1)
	}
	return cl
}

// call sends one request and waits for its outcome.
func (cc *clientConn) call(ctx context.Context, method uint8, req []byte) ([]byte, error) {
	cl := &call{done: make(chan result, 1)}
	if !cc.register(cl) {
		return nil, notSent(connLost(cc.err()))
	}
	cl.frame = Frame{Type: FrameRequest, ID: cl.id, Method: method, Timeout: timeoutMillis(ctx), Payload: req}
	select {
	case cc.sendq <- cl:
	case <-cc.dead:
		// fail has delivered (or is delivering) the connection's error.
	case <-ctx.Done():
		if cc.take(cl.id) != nil {
			return nil, notSent(ctx.Err())
		}
	}
	return cc.wait(ctx, cl)
}

// wait waits for cl's result or for ctx to end.
func (cc *clientConn) wait(ctx context.Context, cl *call) ([]byte, error) {
	select {
	case r := <-cl.done:
		return cc.outcome(cl, r)
	case <-ctx.Done():
	}
	if cc.take(cl.id) == nil {
		// A result was delivered concurrently; it is the true outcome.
		return cc.outcome(cl, <-cl.done)
	}
	if cl.state.CompareAndSwap(callQueued, callAbandoned) {
		return nil, notSent(ctx.Err())
	}
	return nil, fmt.Errorf("rpc: call to %s: no reply: %w", cc.addr, ctx.Err())
}

// outcome turns a delivered result into Call's return values.
func (cc *clientConn) outcome(cl *call, r result) ([]byte, error) {
	switch {
	case r.remote != nil:
		return nil, r.remote
	case r.err == nil:
		return r.payload, nil
	case cl.state.CompareAndSwap(callQueued, callAbandoned):
		return nil, notSent(r.err)
	}
	return nil, fmt.Errorf("rpc: call to %s: %w", cc.addr, r.err)
}

// writeLoop writes queued requests, flushing whenever the queue is empty.
func (cc *clientConn) writeLoop() {
	defer cc.c.wg.Done()
	bw := bufio.NewWriterSize(cc.nc, ioBufferSize)
	for {
		select {
		case cl := <-cc.sendq:
			if !cl.state.CompareAndSwap(callQueued, callTaken) {
				continue
			}
			err := WriteFrame(bw, cl.frame)
			if err == nil && len(cc.sendq) == 0 {
				err = bw.Flush()
			}
			if err != nil {
				cc.fail(connLost(fmt.Errorf("write: %w", err)))
				return
			}
		case <-cc.dead:
			return
		}
	}
}

// readLoop delivers replies to their calls until the connection fails.
func (cc *clientConn) readLoop() {
	defer cc.c.wg.Done()
	br := bufio.NewReaderSize(cc.nc, ioBufferSize)
	for {
		f, err := ReadFrame(br, cc.c.cfg.MaxFrame)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("closed by the server: %w", err)
			}
			cc.fail(connLost(err))
			return
		}
		var r result
		switch f.Type {
		case FrameResponse:
			r.payload = f.Payload
		case FrameError:
			r.remote = &RemoteError{Code: f.Code, Message: string(f.Payload)}
		default:
			cc.fail(connLost(fmt.Errorf("%w: server sent a %v frame", ErrBadFrame, f.Type)))
			return
		}
		if cl := cc.take(f.ID); cl != nil {
			cl.done <- r
		}
	}
}

// timeoutMillis is ctx's remaining time in whole milliseconds, rounded up,
// or 0 when ctx has no deadline.
func timeoutMillis(ctx context.Context) uint32 {
	dl, ok := ctx.Deadline()
	if !ok {
		return 0
	}
	ms := (time.Until(dl) + time.Millisecond - 1) / time.Millisecond
	return uint32(max(1, min(int64(ms), math.MaxUint32)))
}
