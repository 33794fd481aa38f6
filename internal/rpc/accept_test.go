package rpc

import (
	"errors"
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/logadapt"
)

// scriptedListener returns the results queued on its channel from Accept,
// then blocks until closed.
type scriptedListener struct {
	results   chan acceptResult
	done      chan struct{}
	closeOnce sync.Once
}

type acceptResult struct {
	conn net.Conn
	err  error
}

func newScriptedListener(results ...acceptResult) *scriptedListener {
	l := &scriptedListener{results: make(chan acceptResult, len(results)), done: make(chan struct{})}
	for _, r := range results {
		l.results <- r
	}
	return l
}

func (l *scriptedListener) Accept() (net.Conn, error) {
	select {
	case r := <-l.results:
		return r.conn, r.err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *scriptedListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return nil
}

func (l *scriptedListener) Addr() net.Addr { return &net.TCPAddr{} }

type tempErr struct{}

func (tempErr) Error() string   { return "too many open files" }
func (tempErr) Temporary() bool { return true }

func startLoop(t *testing.T, ln net.Listener) (*acceptLoop, chan net.Conn, chan error) {
	logger, _ := newTestLogger(t)
	handled := make(chan net.Conn, 4)
	loop := newAcceptLoop("test", ln, logger, func(c net.Conn) { handled <- c })
	errc := make(chan error, 1)
	go func() { errc <- loop.serve() }()
	return loop, handled, errc
}

func TestAcceptLoopRetriesTemporaryErrors(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	ln := newScriptedListener(acceptResult{err: tempErr{}}, acceptResult{err: tempErr{}}, acceptResult{conn: a})
	loop, handled, errc := startLoop(t, ln)
	require.Same(t, a, <-handled, "the connection after the temporary errors is handled")
	require.NoError(t, loop.close())
	require.NoError(t, <-errc)
}

func TestAcceptLoopEndsOnPermanentError(t *testing.T) {
	boom := errors.New("boom")
	loop, _, errc := startLoop(t, newScriptedListener(acceptResult{err: boom}))
	err := <-errc
	require.ErrorIs(t, err, boom)
	require.ErrorContains(t, err, "rpc: test accept")
	require.NoError(t, loop.close())
}

// Close ends a loop that keeps getting temporary errors (and backing off).
func TestAcceptLoopCloseEndsRetries(t *testing.T) {
	ln := &alwaysTemp{done: make(chan struct{})}
	ln.cond = sync.NewCond(&ln.mu)
	loop, _, errc := startLoop(t, ln)
	ln.waitTries(3)
	require.NoError(t, loop.close())
	require.NoError(t, <-errc)
}

// alwaysTemp fails every Accept with a temporary error until closed, and
// counts the attempts.
type alwaysTemp struct {
	done      chan struct{}
	closeOnce sync.Once
	mu        sync.Mutex
	cond      *sync.Cond
	tries     int
}

func (l *alwaysTemp) Accept() (net.Conn, error) {
	l.mu.Lock()
	l.tries++
	l.cond.Broadcast()
	l.mu.Unlock()
	select {
	case <-l.done:
		return nil, net.ErrClosed
	default:
		return nil, tempErr{}
	}
}

func (l *alwaysTemp) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return nil
}

func (l *alwaysTemp) Addr() net.Addr { return &net.TCPAddr{} }

func (l *alwaysTemp) waitTries(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.tries < n {
		l.cond.Wait()
	}
}

func TestAcceptLoopServesOnce(t *testing.T) {
	loop, _, first := startLoop(t, newScriptedListener())
	second := make(chan error, 1)
	go func() { second <- loop.serve() }()
	// Whichever call comes second returns at once.
	var err, other error
	select {
	case err = <-first:
		require.NoError(t, loop.close())
		other = <-second
	case err = <-second:
		require.NoError(t, loop.close())
		other = <-first
	}
	require.ErrorContains(t, err, "Serve called twice")
	require.NoError(t, other)

	closed := newAcceptLoop("test", newScriptedListener(), logadapt.Discard(), func(net.Conn) {})
	require.NoError(t, closed.close())
	require.NoError(t, closed.serve(), "serve after close returns at once")
}
