package consensus

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
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
	return s.track(c)
}

// Dial implements raft.StreamLayer.
func (s *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := s.dial(ctx, string(address))
	if err != nil {
		return nil, err
	}
	return s.track(c)
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
		_ = c.Conn.Close()
	}
	return err
}

// Addr implements net.Listener: the advertised address, which raft uses as
// this server's address.
func (s *streamLayer) Addr() net.Addr { return s.advertise }

func (s *streamLayer) track(c net.Conn) (net.Conn, error) {
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
	net.Conn
	layer *streamLayer
	once  sync.Once
}

// Read reports a connection closed under it (by Close of the layer or of the
// connection) as io.EOF, the normal end of a stream, so raft does not log
// every shutdown as a decoding error.
func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil && errors.Is(err, net.ErrClosed) {
		err = io.EOF
	}
	return n, err
}

func (c *trackedConn) Close() error {
	c.once.Do(func() { c.layer.untrack(c) })
	return c.Conn.Close()
}

// advertisedAddr is a net.Addr for the advertised "host:port".
type advertisedAddr string

func (a advertisedAddr) Network() string { return "tcp" }
func (a advertisedAddr) String() string  { return string(a) }
