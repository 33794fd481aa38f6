package rpc

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// acceptLoop is the accept loop of a [Mux] and of a [Server]: it accepts
// connections until closed or until the listener fails for good, backing
// off on temporary errors, and gives each connection to handle.
type acceptLoop struct {
	owner  string // "mux" or "server", in errors and logs
	ln     net.Listener
	log    *slog.Logger
	handle func(net.Conn) // owns the connection from then on; must not block

	closing chan struct{} // closed by close; ends a backoff

	mu      sync.Mutex // guards the fields below
	serving bool
	closed  bool
	done    chan struct{} // closed when serve returns; nil before serve
}

func newAcceptLoop(owner string, ln net.Listener, log *slog.Logger, handle func(net.Conn)) *acceptLoop {
	return &acceptLoop{owner: owner, ln: ln, log: log, handle: handle, closing: make(chan struct{})}
}

// serve runs the loop. It returns nil once close is called (at once when
// close came first), or the listener's error when it fails for good. It
// may run once.
func (a *acceptLoop) serve() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	if a.serving {
		a.mu.Unlock()
		return fmt.Errorf("rpc: %s: Serve called twice", a.owner)
	}
	a.serving = true
	a.done = make(chan struct{})
	defer close(a.done)
	a.mu.Unlock()

	var backoff time.Duration
	for {
		conn, err := a.ln.Accept()
		if err == nil {
			backoff = 0
			a.handle(conn)
			continue
		}
		if a.isClosed() {
			return nil
		}
		if !isTemporary(err) {
			return fmt.Errorf("rpc: %s accept: %w", a.owner, err)
		}
		backoff = nextBackoff(backoff)
		a.log.Warn("rpc: "+a.owner+" accept failed, retrying", "err", err, "backoff", backoff)
		if !a.sleep(backoff) {
			return nil
		}
	}
}

// close closes the listener and waits for serve to return. It returns the
// listener's Close error, unless the listener was already closed.
func (a *acceptLoop) close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	done := a.done
	a.mu.Unlock()

	close(a.closing)
	err := a.ln.Close()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	if done != nil {
		<-done
	}
	return err
}

func (a *acceptLoop) isClosed() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.closed
}

// sleep waits for d; it reports false when close is called first.
func (a *acceptLoop) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-a.closing:
		return false
	}
}

// isTemporary reports whether an Accept error is worth retrying.
func isTemporary(err error) bool {
	var te interface{ Temporary() bool }
	return errors.As(err, &te) && te.Temporary()
}

func nextBackoff(d time.Duration) time.Duration {
	const first, most = 5 * time.Millisecond, time.Second
	if d == 0 {
		return first
	}
	return min(2*d, most)
}
