package rpc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/conclave-go/conclave/internal/logadapt"
)

// Mux serves several protocols on one listener. Each connection announces
// its protocol with its first byte (inside TLS when the mux has a TLS
// config); the mux hands the connection, with that byte consumed, to the
// listener registered for it with [Mux.Listen].
type Mux struct {
	cfg  MuxConfig
	log  *slog.Logger
	loop *acceptLoop

	ctx    context.Context // cancelled by Close; aborts handshakes
	cancel context.CancelFunc
	done   chan struct{} // closed by Close

	mu      sync.Mutex // guards the fields below
	subs    map[byte]*subListener
	pending map[net.Conn]struct{} // accepted, protocol byte not yet read
	conns   map[*muxConn]struct{} // past the protocol byte, open
	perIP   map[netip.Addr]int    // conns by remote IP
	closed  bool
	// evictAfter is how long a connection must be idle to be evicted at
	// MaxConns: evictMinIdle, changed only by tests.
	evictAfter time.Duration

	counters  muxCounters
	refuseLog logadapt.Throttle // connections refused at MaxPending, MaxConns or MaxConnsPerIP
	evictLog  logadapt.Throttle // idle connections evicted at MaxConns

	wg        sync.WaitGroup // route goroutines
	closeOnce sync.Once
	closeErr  error
}

// NewMux returns a mux over ln, or an error when ln is nil or cfg is
// invalid (see [MuxConfig.Validate]); ln then stays the caller's to close.
// cfg.TLS, when set, is the server-side TLS config (mutual TLS when its
// ClientAuth requires client certificates). Nothing runs until Serve.
func NewMux(ln net.Listener, cfg MuxConfig) (*Mux, error) {
	if ln == nil {
		return nil, errors.New("rpc: NewMux: listener is nil")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	m := &Mux{
		cfg:     cfg,
		log:     logadapt.OrDiscard(cfg.Logger),
		ctx:     ctx,
		cancel:  cancel,
		done:    make(chan struct{}),
		subs:    make(map[byte]*subListener),
		pending: make(map[net.Conn]struct{}),
		conns:   make(map[*muxConn]struct{}),
		perIP:   make(map[netip.Addr]int),

		evictAfter: evictMinIdle,
	}
	m.loop = newAcceptLoop("mux", ln, m.log, m.accepted)
	return m, nil
}

// Addr returns the address of the underlying listener.
func (m *Mux) Addr() net.Addr { return m.loop.ln.Addr() }

// Listen returns the listener for connections whose first byte is b. Call
// it before Serve so that no early connection is refused. Its Addr is the
// mux's address; closing it stops only that protocol (later connections
// for b are refused). While a listener for b is open, another Listen(b)
// returns a listener whose Accept fails with [ErrListenerInUse].
//
// Connections are handed over only while Accept is waiting; a connection
// not accepted within the header timeout is closed. Accept returns a
// *tls.Conn when the mux has a TLS config.
func (m *Mux) Listen(b byte) net.Listener {
	l := &subListener{m: m, b: b, ch: make(chan net.Conn), done: make(chan struct{})}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.closed:
		l.closeOnce.Do(func() { close(l.done) })
	case m.subs[b] != nil:
		l.err = fmt.Errorf("%w: byte %d", ErrListenerInUse, b)
		m.log.Error("rpc: mux: protocol byte registered twice", "byte", b)
	default:
		m.subs[b] = l
	}
	return l
}

// Serve accepts connections until Close is called (then it returns nil) or
// the listener fails for good (then it returns that error). Each connection
// is handshaken and routed on its own goroutine.
func (m *Mux) Serve() error { return m.loop.serve() }

// Close closes the listener, every protocol listener and every connection
// not yet handed off, then waits for the mux's goroutines and for Serve to
// return. Connections already accepted through a protocol listener belong to
// their acceptor and stay open. Close is idempotent.
func (m *Mux) Close() error {
	m.closeOnce.Do(func() {
		m.closeErr = m.loop.close() // no connection is accepted after it
		m.mu.Lock()
		m.closed = true
		pending := make([]net.Conn, 0, len(m.pending))
		for c := range m.pending {
			pending = append(pending, c)
		}
		for c := range m.conns {
			if !c.handed {
				pending = append(pending, c)
			}
		}
		m.mu.Unlock()

		close(m.done)
		m.cancel()
		for _, c := range pending {
			_ = c.Close()
		}
		m.wg.Wait()
	})
	return m.closeErr
}

func (m *Mux) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

// accepted routes conn on its own goroutine.
func (m *Mux) accepted(conn net.Conn) {
	if m.track(conn) {
		go m.route(conn)
	}
}

// track registers an accepted connection for routing, or closes it when the
// mux is closed or too many connections are being routed.
func (m *Mux) track(conn net.Conn) bool {
	m.mu.Lock()
	switch {
	case m.closed:
		m.mu.Unlock()
		_ = conn.Close()
		return false
	case len(m.pending) >= m.cfg.MaxPending:
		m.mu.Unlock()
		m.counters.refused.Add(1)
		m.refuseLog.Warn(m.log, "rpc: mux refused connections", "reason", "too many connections awaiting their protocol byte", "limit", m.cfg.MaxPending, "last_remote", remoteAddr(conn))
		_ = conn.Close()
		return false
	}
	m.pending[conn] = struct{}{}
	m.wg.Add(1)
	m.mu.Unlock()
	return true
}

func (m *Mux) untrack(conn net.Conn) {
	m.mu.Lock()
	delete(m.pending, conn)
	m.mu.Unlock()
}

// route handshakes conn, reads its protocol byte, waits for its first
// request and hands it to the listener for that byte.
func (m *Mux) route(raw net.Conn) {
	defer m.wg.Done()
	conn, b, err := m.readHeader(raw)
	if err != nil {
		m.refuse(raw, headerReason(err), err)
		return
	}
	m.mu.Lock()
	l := m.subs[b]
	m.mu.Unlock()
	if l == nil {
		m.refuse(raw, fmt.Sprintf("unknown protocol byte %d", b), nil)
		return
	}
	mc := newMuxConn(m, conn)
	m.untrack(raw)
	if !m.admit(mc) {
		_ = raw.Close()
		return
	}
	if err := mc.awaitFirst(); err != nil {
		m.drop(mc, err)
		return
	}
	// From here the connection is no longer Close's to close: either an
	// Accept takes it or handoff gives up and it is refused.
	m.mu.Lock()
	mc.handed = true
	m.mu.Unlock()
	if reason := l.handoff(mc, m.cfg.HeaderTimeout); reason != "" {
		_ = mc.Close()
		m.refuse(raw, reason, nil)
	}
}

// drop closes a connection that ended, or was closed, before its first
// request.
func (m *Mux) drop(mc *muxConn, err error) {
	_ = mc.Close()
	if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !m.isClosed() {
		m.log.Debug("rpc: mux closed connection", "remote", remoteAddr(mc), "reason", "reading first request failed", "err", err)
	}
}

// readHeader completes the TLS handshake, if any, and reads the protocol
// byte, both within the header timeout.
func (m *Mux) readHeader(raw net.Conn) (net.Conn, byte, error) {
	deadline := time.Now().Add(m.cfg.HeaderTimeout)
	if err := raw.SetDeadline(deadline); err != nil {
		return nil, 0, err
	}
	conn := raw
	if m.cfg.TLS != nil {
		tc := tls.Server(raw, m.cfg.TLS)
		ctx, cancel := context.WithDeadline(m.ctx, deadline)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			return nil, 0, &handshakeError{err}
		}
		conn = tc
	}
	var b [1]byte
	if _, err := io.ReadFull(conn, b[:]); err != nil {
		return nil, 0, err
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return nil, 0, err
	}
	return conn, b[0], nil
}

// refuse closes a connection that was not handed off and logs why.
func (m *Mux) refuse(raw net.Conn, reason string, err error) {
	m.untrack(raw)
	_ = raw.Close()
	level := slog.LevelWarn
	if m.isClosed() || errors.Is(err, io.EOF) {
		level = slog.LevelDebug
	}
	attrs := []any{"remote", remoteAddr(raw), "reason", reason}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	m.log.Log(context.Background(), level, "rpc: mux closed connection", attrs...)
}

// handshakeError marks a failed TLS handshake.
type handshakeError struct{ err error }

func (e *handshakeError) Error() string { return "tls handshake: " + e.err.Error() }
func (e *handshakeError) Unwrap() error { return e.err }

func headerReason(err error) string {
	var he *handshakeError
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "no protocol byte within the header timeout"
	case errors.As(err, &he):
		return "tls handshake failed"
	case errors.Is(err, io.EOF):
		return "peer closed before sending its protocol byte"
	}
	return "reading protocol byte failed"
}

// subListener is the listener for one protocol byte.
type subListener struct {
	m         *Mux
	b         byte
	ch        chan net.Conn // unbuffered: a conn moves only to a waiting Accept
	done      chan struct{} // closed by Close
	closeOnce sync.Once
	err       error // non-nil for a duplicate registration
}

// Accept waits for the next connection for this protocol.
func (l *subListener) Accept() (net.Conn, error) {
	if l.err != nil {
		return nil, l.err
	}
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
	case <-l.m.done:
	}
	return nil, fmt.Errorf("rpc: listener for byte %d: %w", l.b, net.ErrClosed)
}

// Close stops this protocol's listener only; the mux keeps serving others.
func (l *subListener) Close() error {
	if l.err != nil {
		return nil
	}
	l.closeOnce.Do(func() {
		close(l.done)
		l.m.mu.Lock()
		if l.m.subs[l.b] == l {
			delete(l.m.subs, l.b)
		}
		l.m.mu.Unlock()
	})
	return nil
}

// Addr returns the mux's address.
func (l *subListener) Addr() net.Addr { return l.m.Addr() }

// handoff gives conn to a waiting Accept. It returns the reason when it
// could not.
func (l *subListener) handoff(conn net.Conn, timeout time.Duration) string {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case l.ch <- conn:
		return ""
	case <-l.done:
		return "protocol listener closed"
	case <-l.m.done:
		return "mux closed"
	case <-t.C:
		return "protocol listener did not accept within the header timeout"
	}
}

func remoteAddr(c net.Conn) string {
	if a := c.RemoteAddr(); a != nil {
		return a.String()
	}
	return ""
}
