package rpc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

const ioBufferSize = 32 << 10

// serverConn serves one connection: the reader decodes requests and starts
// a handler for each (at most MaxInFlight at once); each handler writes its
// own reply. There is no writer goroutine: replies written while another is
// being written wait for the write lock, and the last of them flushes, so
// concurrent replies share a flush.
type serverConn struct {
	s      *Server
	nc     net.Conn
	remote string

	ctx    context.Context // cancelled when the connection ends
	cancel context.CancelFunc

	// sem holds one token per request from its read until its reply has been
	// written.
	sem chan struct{}

	writers atomic.Int32 // handlers writing or waiting for wmu
	wmu     sync.Mutex   // guards bw and werr
	bw      *bufio.Writer
	werr    error // the first write failure; later writes are skipped

	busy BusyMarker // the mux's connection, when served through a Mux; else nil

	wg        sync.WaitGroup // handlers
	closeOnce sync.Once
}

func newServerConn(s *Server, nc net.Conn) *serverConn {
	ctx, cancel := context.WithCancel(s.ctx)
	busy, _ := nc.(BusyMarker)
	return &serverConn{
		busy:   busy,
		s:      s,
		nc:     nc,
		remote: remoteAddr(nc),
		ctx:    ctx,
		cancel: cancel,
		sem:    make(chan struct{}, s.cfg.MaxInFlight),
		bw:     bufio.NewWriterSize(nc, ioBufferSize),
	}
}

// serve runs the connection until it ends, then waits for its goroutines.
func (sc *serverConn) serve() {
	defer sc.s.wg.Done()
	defer sc.s.untrack(sc)
	byUs, err := sc.readLoop()
	sc.close()
	sc.wg.Wait()
	switch {
	case byUs || errors.Is(err, io.EOF):
		sc.s.log.Debug("rpc: server connection ended", "remote", sc.remote, "err", err)
	default:
		sc.s.log.Warn("rpc: server closed connection", "remote", sc.remote, "reason", err)
	}
}

// close ends the connection: handlers' contexts are cancelled and blocked
// reads and writes fail.
func (sc *serverConn) close() {
	sc.closeOnce.Do(func() {
		sc.cancel()
		_ = sc.nc.Close()
	})
}

// readLoop reads requests until the connection fails. byUs reports that it
// failed because this side closed it.
func (sc *serverConn) readLoop() (byUs bool, err error) {
	br := bufio.NewReaderSize(sc.nc, ioBufferSize)
	for {
		f, err := ReadFrame(br, sc.s.cfg.MaxFrame)
		if err != nil {
			return sc.ctx.Err() != nil, err
		}
		if f.Type != FrameRequest {
			return false, fmt.Errorf("%w: client sent a %v frame", ErrBadFrame, f.Type)
		}
		select {
		case sc.sem <- struct{}{}:
		case <-sc.ctx.Done():
			return true, ErrClosed
		}
		sc.wg.Add(1)
		if sc.busy != nil {
			sc.busy.Hold() // a long request is not idleness
		}
		go sc.handle(f)
	}
}

// writeReply writes f. A handler that finds no other handler writing or
// waiting after its own frame flushes; otherwise the last one does.
func (sc *serverConn) writeReply(f Frame) {
	defer func() { <-sc.sem }()
	sc.writers.Add(1)
	sc.wmu.Lock()
	defer sc.wmu.Unlock()
	err := sc.werr
	if err == nil {
		err = WriteFrame(sc.bw, f)
	}
	if sc.writers.Add(-1) == 0 && err == nil {
		err = sc.bw.Flush()
	}
	if err != nil && sc.werr == nil {
		sc.werr = err
		if sc.ctx.Err() == nil {
			sc.s.log.Warn("rpc: server closed connection", "remote", sc.remote, "reason", "write failed", "err", err)
		}
		sc.close()
	}
}

// handle runs the handler for one request and queues its reply.
func (sc *serverConn) handle(f Frame) {
	defer sc.wg.Done()
	if sc.busy != nil {
		defer sc.busy.Release()
	}
	ctx := sc.ctx
	if f.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(f.Timeout)*time.Millisecond)
		defer cancel()
	}
	resp, err := sc.call(ctx, f)
	if sc.ctx.Err() != nil {
		<-sc.sem
		return // the connection has ended: nobody reads the reply
	}
	sc.writeReply(sc.reply(f.ID, resp, err))
}

// call runs the handler, turning a panic into a CodeInternal error.
func (sc *serverConn) call(ctx context.Context, f Frame) (resp []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			sc.s.log.Error("rpc: handler panicked", "remote", sc.remote, "method", f.Method, "panic", r, "stack", string(debug.Stack()))
			resp, err = nil, Errorf(CodeInternal, "handler panicked: %v", r)
		}
	}()
	return sc.s.h(ctx, f.Method, f.Payload)
}

// reply builds the frame answering request id.
func (sc *serverConn) reply(id uint64, resp []byte, err error) Frame {
	limit := sc.s.cfg.MaxFrame
	if err == nil && len(resp) > limit {
		err = Errorf(CodeTooLarge, "response of %d bytes exceeds the server's limit of %d", len(resp), limit)
	}
	if err == nil {
		return Frame{Type: FrameResponse, ID: id, Payload: resp}
	}
	code, msg := CodeInternal, err.Error()
	var re *RemoteError
	switch {
	case errors.As(err, &re):
		code, msg = re.Code, re.Message
	case errors.Is(err, context.DeadlineExceeded):
		code = CodeDeadlineExceeded
	}
	if code == 0 {
		code = CodeInternal
	}
	if n := min(limit, maxErrorMessage); len(msg) > n {
		msg = msg[:n]
	}
	return Frame{Type: FrameError, ID: id, Code: code, Payload: []byte(msg)}
}
