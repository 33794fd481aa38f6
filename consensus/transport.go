package consensus

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// Connection bytes on the node's port: the first byte of every connection
// selects the service behind the multiplexer.
const (
	byteRaft uint8 = 'R'
	byteRPC  uint8 = 'C'
)

// dialFunc opens a connection to addr that is already past the
// multiplexer's selection byte (and TLS, when enabled).
type dialFunc func(ctx context.Context, addr string) (net.Conn, error)

// streamLayer is raft's StreamLayer over the multiplexer: Accept yields the
// connections that chose byteRaft, Dial opens one. It tracks every connection
// it hands out and closes them all on Close, so raft's per-connection
// goroutines end with the node.
type streamLayer struct {
	ln        net.Listener
	advertise net.Addr
	dial      dialFunc

	mu     sync.Mutex // guards conns and closed
	conns  map[*trackedConn]struct{}
	closed bool

	// handlers counts the accepted connections raft still serves: raft's
	// handler closes its connection when it returns, and it may write the
	// stores (a heartbeat can persist a new term) until then.
	handlers sync.WaitGroup
}

var _ raft.StreamLayer = (*streamLayer)(nil)

func newStreamLayer(ln net.Listener, advertise net.Addr, dial dialFunc) *streamLayer {
	return &streamLayer{ln: ln, advertise: advertise, dial: dial, conns: make(map[*trackedConn]struct{})}
}

// Accept implements net.Listener.
func (s *streamLayer) Accept() (net.Conn, error) {
	c, err := s.ln.Accept()
	if err != nil {
		return nil, err
	}
	tc, err := s.track(c)
	if err != nil {
		return nil, err
	}
	s.handlers.Add(1)
	tc.accepted = true
	return tc, nil
}

// waitHandlers waits, at most timeout, until raft has returned from every
// accepted connection (after Close, which ends them); false on timeout.
func (s *streamLayer) waitHandlers(timeout time.Duration) bool {
	return waitTimeout(&s.handlers, timeout)
}

// Dial implements raft.StreamLayer.
func (s *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := s.dial(ctx, string(address))
	if err != nil {
		return nil, err
	}
	tc, err := s.track(c)
	if err != nil {
		return nil, err
	}
	tc.addr, tc.timeout = string(address), timeout
	tc.touch()
	return tc, nil
}

// Close implements net.Listener: it closes the listener and every connection
// handed out.
func (s *streamLayer) Close() error {
	s.mu.Lock()
	s.closed = true
	conns := s.conns
	s.conns = make(map[*trackedConn]struct{})
	s.mu.Unlock()
	err := s.ln.Close()
	for c := range conns {
		_ = c.conn().Close()
	}
	return err
}

// Addr implements net.Listener: the advertised address, which raft uses as
// this server's address.
func (s *streamLayer) Addr() net.Addr { return s.advertise }

func (s *streamLayer) track(c net.Conn) (*trackedConn, error) {
	tc := &trackedConn{Conn: c, layer: s}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = c.Close()
		return nil, net.ErrClosed
	}
	s.conns[tc] = struct{}{}
	return tc, nil
}

func (s *streamLayer) untrack(c *trackedConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

type trackedConn struct {
	net.Conn // guarded by mu when replaced; see conn
	layer    *streamLayer
	accepted bool // counted in layer.handlers until closed
	once     sync.Once
	mu       sync.Mutex // guards Conn and the deadlines

	// For a dialled connection only: raft pools these and may reuse one
	// long after its last request, when the server may have closed it as
	// idle. The first write after a pause checks for that and redials.
	addr          string
	timeout       time.Duration
	lastUse       atomic.Int64 // unix nanoseconds
	readDeadline  time.Time
	writeDeadline time.Time
	peeked        []byte // read by the check; returned by the next Read
}

// staleCheckAfter is the pause after which a pooled connection is checked
// before its next request; staleProbe is how long the check waits for a
// close from the server.
const (
	staleCheckAfter = time.Second
	staleProbe      = time.Millisecond
)

func (c *trackedConn) conn() net.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn
}

func (c *trackedConn) touch() { c.lastUse.Store(time.Now().UnixNano()) }

// Read reports a connection closed under it (by Close of the layer or of the
// connection) as io.EOF, the normal end of a stream, so raft does not log
// every shutdown as a decoding error.
func (c *trackedConn) Read(p []byte) (int, error) {
	if len(c.peeked) > 0 {
		n := copy(p, c.peeked)
		c.peeked = c.peeked[n:]
		return n, nil
	}
	n, err := c.conn().Read(p)
	if err != nil && errors.Is(err, net.ErrClosed) {
		err = io.EOF
	}
	if c.addr != "" {
		c.touch()
	}
	return n, err
}

// Write implements net.Conn. On a dialled connection unused for a while, it
// first replaces the connection when the server has closed it: raft writes
// a request only at a message boundary, so the new connection carries it
// whole.
func (c *trackedConn) Write(p []byte) (int, error) {
	if c.addr != "" {
		if time.Since(time.Unix(0, c.lastUse.Load())) >= staleCheckAfter {
			c.redialIfClosed()
		}
		c.touch()
	}
	return c.conn().Write(p)
}

// redialIfClosed replaces the connection when a short read finds it closed
// by the server. A failed redial leaves the old one, whose write then fails
// as it would have.
func (c *trackedConn) redialIfClosed() {
	c.mu.Lock()
	old, rd, wd := c.Conn, c.readDeadline, c.writeDeadline
	c.mu.Unlock()
	if err := old.SetReadDeadline(time.Now().Add(staleProbe)); err != nil {
		return
	}
	var b [1]byte
	n, err := old.Read(b[:])
	_ = old.SetReadDeadline(rd)
	if n > 0 {
		c.peeked = append(c.peeked, b[:n]...)
		return
	}
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		return // still open
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	fresh, err := c.layer.dial(ctx, c.addr)
	if err != nil {
		return
	}
	_ = fresh.SetReadDeadline(rd)
	_ = fresh.SetWriteDeadline(wd)
	c.mu.Lock()
	c.Conn = fresh
	c.mu.Unlock()
	_ = old.Close()
}

// SetDeadline implements net.Conn.
func (c *trackedConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readDeadline, c.writeDeadline = t, t
	return c.Conn.SetDeadline(t)
}

// SetReadDeadline implements net.Conn.
func (c *trackedConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readDeadline = t
	return c.Conn.SetReadDeadline(t)
}

// SetWriteDeadline implements net.Conn.
func (c *trackedConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writeDeadline = t
	return c.Conn.SetWriteDeadline(t)
}

func (c *trackedConn) Close() error {
	err := c.conn().Close()
	c.once.Do(func() {
		c.layer.untrack(c)
		if c.accepted {
			c.layer.handlers.Done()
		}
	})
	return err
}

// advertisedAddr is a net.Addr for the advertised "host:port".
type advertisedAddr string

func (a advertisedAddr) Network() string { return "tcp" }
func (a advertisedAddr) String() string  { return string(a) }
