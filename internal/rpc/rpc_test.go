package rpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/testkit"
)

const (
	methodEcho uint8 = iota + 1
	methodSlow
	methodFail
	methodPanic
	methodBig
)

// blocker is a handler whose methodSlow blocks until released or cancelled.
type blocker struct {
	started   chan struct{} // one value per slow request started
	release   chan struct{} // closed to let slow requests return
	cancelled chan error    // the ctx error of slow requests that were cancelled
	running   atomic.Int32  // slow requests in progress
	peak      atomic.Int32  // most slow requests seen at once
}

func newBlocker() *blocker {
	return &blocker{started: make(chan struct{}, 1024), release: make(chan struct{}), cancelled: make(chan error, 1024)}
}

func (b *blocker) handle(ctx context.Context, method uint8, req []byte) ([]byte, error) {
	switch method {
	case methodEcho:
		return req, nil
	case methodSlow:
		n := b.running.Add(1)
		defer b.running.Add(-1)
		for {
			p := b.peak.Load()
			if n <= p || b.peak.CompareAndSwap(p, n) {
				break
			}
		}
		b.started <- struct{}{}
		select {
		case <-b.release:
			return append([]byte("slow:"), req...), nil
		case <-ctx.Done():
			b.cancelled <- ctx.Err()
			return nil, ctx.Err()
		}
	case methodFail:
		return nil, errors.New("plain failure")
	case methodPanic:
		panic("handler bug")
	case methodBig:
		return make([]byte, 4096), nil
	}
	return nil, Errorf(CodeUnknownMethod, "no method %d", method)
}

func TestCallRoundTripThroughMux(t *testing.T) {
	fx := newTLSFixture(t)
	m, subs := startMux(t, MuxConfig{TLS: fx.server}, 'R', 'X')
	serveGreeting(t, subs['X'], "X:")
	srv := mustServer(t, subs['R'], echo, ServerConfig{})
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve() }()
	defer func() {
		require.NoError(t, srv.Close())
		require.NoError(t, <-errc)
	}()

	c := newTestClient(t, ClientConfig{})
	c.dial = func(ctx context.Context, addr string) (net.Conn, error) {
		return DialByte(ctx, nil, addr, 'R', fx.client)
	}
	for i := range 3 {
		msg := fmt.Appendf(nil, "hello %d", i)
		resp, err := c.Call(testkit.Context(t, 20*time.Second), m.Addr().String(), methodEcho, msg)
		require.NoError(t, err)
		require.Equal(t, msg, resp)
	}
	resp, err := c.Call(testkit.Context(t, 20*time.Second), m.Addr().String(), methodEcho, nil)
	require.NoError(t, err)
	require.Empty(t, resp)
}

func TestCallsArePipelinedOnOneConnection(t *testing.T) {
	b := newBlocker()
	ts := startServer(t, b.handle, ServerConfig{})
	c := newTestClient(t, ClientConfig{ConnsPerAddr: 1})

	slow := make(chan error, 1)
	go func() {
		resp, err := c.Call(testkit.Context(t, 20*time.Second), ts.addr, methodSlow, []byte("s"))
		if err == nil && string(resp) != "slow:s" {
			err = fmt.Errorf("slow reply %q", resp)
		}
		slow <- err
	}()
	<-b.started
	for i := range 20 { // fast calls overtake the slow one on the same connection
		resp, err := c.Call(testkit.Context(t, 20*time.Second), ts.addr, methodEcho, []byte{byte(i)})
		require.NoError(t, err)
		require.Equal(t, []byte{byte(i)}, resp)
	}
	require.Len(t, slow, 0, "the slow call is still waiting")
	close(b.release)
	require.NoError(t, <-slow)
	require.Len(t, ts.ln.accepted(), 1, "everything went over one connection")
}

func TestManyConcurrentCalls(t *testing.T) {
	ts := startServer(t, echo, ServerConfig{})
	c := newTestClient(t, ClientConfig{})
	const callers, each = 64, 40
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for g := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				msg := fmt.Appendf(nil, "caller %d call %d %s", g, i, bytes.Repeat([]byte{'x'}, i*50))
				resp, err := c.Call(testkit.Context(t, 20*time.Second), ts.addr, methodEcho, msg)
				if err == nil && !bytes.Equal(resp, msg) {
					err = fmt.Errorf("caller %d call %d: got %q", g, i, resp)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.LessOrEqual(t, len(ts.ln.accepted()), DefaultConnsPerAddr)
}

func TestHandlerErrorsTravelAsRemoteError(t *testing.T) {
	const codeNotLeader = CodeFirstUser + 1
	h := func(_ context.Context, method uint8, _ []byte) ([]byte, error) {
		switch method {
		case 1:
			return nil, Errorf(codeNotLeader, "leader is %s", "node-2")
		case 2:
			return nil, fmt.Errorf("wrapped: %w", &RemoteError{Code: 40, Message: "custom"})
		case 3:
			return nil, errors.New("plain failure")
		case 4:
			panic("handler bug")
		case 5:
			return nil, fmt.Errorf("apply: %w", context.DeadlineExceeded)
		}
		return nil, Errorf(CodeUnknownMethod, "no method %d", method)
	}
	ts := startServer(t, h, ServerConfig{})
	c := newTestClient(t, ClientConfig{})
	cases := []struct {
		method uint8
		code   uint16
		msg    string
	}{
		{1, codeNotLeader, "leader is node-2"},
		{2, 40, "custom"},
		{3, CodeInternal, "plain failure"},
		{4, CodeInternal, "handler panicked: handler bug"},
		{5, CodeDeadlineExceeded, "apply: context deadline exceeded"},
		{9, CodeUnknownMethod, "no method 9"},
	}
	for _, tc := range cases {
		_, err := c.Call(testkit.Context(t, 20*time.Second), ts.addr, tc.method, nil)
		var re *RemoteError
		require.ErrorAs(t, err, &re)
		require.Equal(t, tc.code, re.Code)
		require.Equal(t, tc.msg, re.Message)
		require.ErrorIs(t, err, &RemoteError{Code: tc.code})
		require.NotErrorIs(t, err, ErrNotSent)
		code, ok := ErrorCode(err)
		require.True(t, ok)
		require.Equal(t, tc.code, code)
	}
	require.True(t, ts.logs.contains("handler panicked"))
	_, err := c.Call(testkit.Context(t, 20*time.Second), ts.addr, 5, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded, "a deadline that passed on the server")
	_, err = c.Call(testkit.Context(t, 20*time.Second), ts.addr, 3, nil)
	require.NotErrorIs(t, err, context.DeadlineExceeded)
	_, ok := ErrorCode(errors.New("x"))
	require.False(t, ok)
}

func TestOversizeRequestClosesOnlyThatConnection(t *testing.T) {
	ts := startServer(t, echo, ServerConfig{MaxFrame: 1024})
	big := newTestClient(t, ClientConfig{}) // allows what the server refuses
	other := newTestClient(t, ClientConfig{})

	resp, err := other.Call(testkit.Context(t, 20*time.Second), ts.addr, methodEcho, []byte("before"))
	require.NoError(t, err)
	require.Equal(t, "before", string(resp))

	_, err = big.Call(testkit.Context(t, 20*time.Second), ts.addr, methodEcho, make([]byte, 1025))
	require.ErrorIs(t, err, ErrConnLost)
	require.NotErrorIs(t, err, ErrNotSent)
	testkit.WaitFor(t, 10*time.Second, func() bool { return ts.logs.contains("frame too large") })
	require.True(t, ts.logs.contains("remote=127.0.0.1:"))

	resp, err = other.Call(testkit.Context(t, 20*time.Second), ts.addr, methodEcho, []byte("after"))
	require.NoError(t, err, "the server keeps serving other connections")
	require.Equal(t, "after", string(resp))
	resp, err = big.Call(testkit.Context(t, 20*time.Second), ts.addr, methodEcho, []byte("small"))
	require.NoError(t, err, "the offending client reconnects")
	require.Equal(t, "small", string(resp))
}

func TestOversizeRequestRefusedLocally(t *testing.T) {
	ts := startServer(t, echo, ServerConfig{})
	c := newTestClient(t, ClientConfig{MaxFrame: 1024})
	_, err := c.Call(testkit.Context(t, 20*time.Second), ts.addr, methodEcho, make([]byte, 1025))
	require.ErrorIs(t, err, ErrNotSent)
	require.ErrorIs(t, err, ErrFrameTooLarge)
	require.Empty(t, ts.ln.accepted(), "nothing was dialled")
}

func TestOversizeResponseBecomesError(t *testing.T) {
	b := newBlocker()
	ts := startServer(t, b.handle, ServerConfig{MaxFrame: 1024})
	c := newTestClient(t, ClientConfig{})
	_, err := c.Call(testkit.Context(t, 20*time.Second), ts.addr, methodBig, nil)
	require.ErrorIs(t, err, &RemoteError{Code: CodeTooLarge})
	resp, err := c.Call(testkit.Context(t, 20*time.Second), ts.addr, methodEcho, []byte("ok"))
	require.NoError(t, err)
	require.Equal(t, "ok", string(resp))
}

func TestServerKilledMidCallIsAmbiguous(t *testing.T) {
	b := newBlocker()
	ts := startServer(t, b.handle, ServerConfig{})
	c := newTestClient(t, ClientConfig{})
	res := make(chan error, 1)
	go func() {
		_, err := c.Call(testkit.Context(t, 20*time.Second), ts.addr, methodSlow, nil)
		res <- err
	}()
	<-b.started // the server is executing the request
	ts.stop(t)
	require.ErrorIs(t, <-b.cancelled, context.Canceled, "Close cancels the handler's context")
	err := <-res
	require.Error(t, err)
	require.ErrorIs(t, err, ErrConnLost)
	require.NotErrorIs(t, err, ErrNotSent, "the request reached the server")

	// With the server gone, dialling fails: certainly not sent.
	_, err = c.Call(testkit.Context(t, 20*time.Second), ts.addr, methodEcho, nil)
	require.ErrorIs(t, err, ErrNotSent)
}

func TestDialFailureIsNotSent(t *testing.T) {
	ln := listenLocal(t)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	c := newTestClient(t, ClientConfig{})
	_, err := c.Call(testkit.Context(t, 20*time.Second), addr, methodEcho, []byte("x"))
	require.ErrorIs(t, err, ErrNotSent)
	var opErr *net.OpError
	require.ErrorAs(t, err, &opErr, "the dial error is kept")

	failing := mustClient(t, func(context.Context, string) (net.Conn, error) {
		return nil, errors.New("no route")
	}, ClientConfig{})
	defer failing.Close()
	_, err = failing.Call(testkit.Context(t, 20*time.Second), "anywhere:1", methodEcho, nil)
	require.ErrorIs(t, err, ErrNotSent)
	require.ErrorContains(t, err, "no route")
}

func TestContextEndsCall(t *testing.T) {
	b := newBlocker()
	ts := startServer(t, b.handle, ServerConfig{})
	c := newTestClient(t, ClientConfig{})

	t.Run("done before sending", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := c.Call(ctx, ts.addr, methodEcho, nil)
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorIs(t, err, ErrNotSent)
	})

	t.Run("cancelled while the server works", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		res := make(chan error, 1)
		go func() {
			_, err := c.Call(ctx, ts.addr, methodSlow, nil)
			res <- err
		}()
		<-b.started
		cancel()
		err := <-res
		require.ErrorIs(t, err, context.Canceled)
		require.NotErrorIs(t, err, ErrNotSent, "the request was sent")
	})

	t.Run("deadline travels to the handler", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := c.Call(ctx, ts.addr, methodSlow, nil)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.NotErrorIs(t, err, ErrNotSent)
		select {
		case err := <-b.cancelled:
			require.ErrorIs(t, err, context.DeadlineExceeded, "the handler's ctx expired with the caller's")
		case <-time.After(10 * time.Second):
			t.Fatal("handler context did not expire")
		}
	})

	resp, err := c.Call(testkit.Context(t, 20*time.Second), ts.addr, methodEcho, []byte("still fine"))
	require.NoError(t, err)
	require.Equal(t, "still fine", string(resp))
}

func TestClientCloseFailsPendingCalls(t *testing.T) {
	b := newBlocker()
	ts := startServer(t, b.handle, ServerConfig{})
	c := mustClient(t, plainDial, ClientConfig{})
	res := make(chan error, 1)
	go func() {
		_, err := c.Call(testkit.Context(t, 20*time.Second), ts.addr, methodSlow, nil)
		res <- err
	}()
	<-b.started
	require.NoError(t, c.Close())
	err := <-res
	require.ErrorIs(t, err, ErrClosed)
	require.NotErrorIs(t, err, ErrNotSent, "the request was sent")

	_, err = c.Call(testkit.Context(t, 20*time.Second), ts.addr, methodEcho, nil)
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, err, ErrNotSent)
	require.NoError(t, c.Close(), "Close is idempotent")
	require.ErrorIs(t, <-b.cancelled, context.Canceled, "the server saw the connection go")
}

func TestCloseAddrRedials(t *testing.T) {
	ts := startServer(t, echo, ServerConfig{})
	c := newTestClient(t, ClientConfig{ConnsPerAddr: 1})
	_, err := c.Call(testkit.Context(t, 20*time.Second), ts.addr, methodEcho, nil)
	require.NoError(t, err)
	c.CloseAddr(ts.addr)
	_, err = c.Call(testkit.Context(t, 20*time.Second), ts.addr, methodEcho, nil)
	require.NoError(t, err)
	require.Len(t, ts.ln.accepted(), 2)
}

func TestBrokenConnectionIsReplaced(t *testing.T) {
	ts := startServer(t, echo, ServerConfig{})
	c := newTestClient(t, ClientConfig{ConnsPerAddr: 1})
	_, err := c.Call(testkit.Context(t, 20*time.Second), ts.addr, methodEcho, nil)
	require.NoError(t, err)
	for _, nc := range ts.ln.accepted() {
		require.NoError(t, nc.Close())
	}
	testkit.WaitFor(t, 10*time.Second, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.pools[ts.addr]) == 0
	}, "the client notices the broken connection")
	resp, err := c.Call(testkit.Context(t, 20*time.Second), ts.addr, methodEcho, []byte("again"))
	require.NoError(t, err)
	require.Equal(t, "again", string(resp))
	require.Len(t, ts.ln.accepted(), 2)
}

func TestServerBoundsInFlightPerConnection(t *testing.T) {
	b := newBlocker()
	ts := startServer(t, b.handle, ServerConfig{MaxInFlight: 2})
	c := newTestClient(t, ClientConfig{ConnsPerAddr: 1})
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Call(testkit.Context(t, 20*time.Second), ts.addr, methodSlow, nil)
			errs <- err
		}()
	}
	<-b.started
	<-b.started
	testkit.WaitFor(t, 10*time.Second, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		conns := c.pools[ts.addr]
		return len(conns) == 1 && conns[0].load() == 5
	}, "all five calls are in flight")
	require.EqualValues(t, 2, b.running.Load(), "the server runs only MaxInFlight handlers")
	close(b.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.EqualValues(t, 2, b.peak.Load())
}

func TestServerRejectsNonRequestFrames(t *testing.T) {
	ts := startServer(t, echo, ServerConfig{})
	nc, err := net.Dial("tcp", ts.addr)
	require.NoError(t, err)
	defer nc.Close()
	require.NoError(t, WriteFrame(nc, Frame{Type: FrameResponse, ID: 1}))
	require.NoError(t, nc.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err = ReadFrame(nc, 0)
	require.Error(t, err)
	testkit.WaitFor(t, 10*time.Second, func() bool { return ts.logs.contains("client sent a response frame") })
}

func TestConstructorsReturnConfigErrors(t *testing.T) {
	for _, c := range []struct {
		h    Handler
		cfg  ServerConfig
		want string
	}{
		{echo, ServerConfig{MaxInFlight: -1}, "ServerConfig.MaxInFlight"},
		{echo, ServerConfig{MaxFrame: MaxFrameLimit + 1}, "ServerConfig.MaxFrame"},
		{nil, ServerConfig{}, "handler is nil"},
	} {
		ln := listenLocal(t)
		srv, err := NewServer(ln, c.h, c.cfg)
		require.ErrorContains(t, err, c.want)
		require.Nil(t, srv)
		require.NoError(t, ln.Close(), "a refused listener stays the caller's")
	}
	_, err := NewServer(nil, echo, ServerConfig{})
	require.ErrorContains(t, err, "listener is nil")

	for _, cfg := range []ClientConfig{{ConnsPerAddr: -1}, {MaxFrame: -1}, {DialTimeout: -1}} {
		c, err := NewClient(plainDial, cfg)
		require.ErrorContains(t, err, "ClientConfig.")
		require.Nil(t, c)
	}
	_, err = NewClient(nil, ClientConfig{})
	require.ErrorContains(t, err, "dial is nil")
	require.NoError(t, DefaultServerConfig().Validate())
	require.NoError(t, DefaultClientConfig().Validate())
}

func TestServerCloseWithoutServe(t *testing.T) {
	srv := mustServer(t, listenLocal(t), echo, ServerConfig{})
	require.NoError(t, srv.Close())
	require.NoError(t, srv.Serve(), "Serve after Close returns at once")
}
