package rpc

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// evictMinIdle is how long a connection must have been idle before a new
// connection may displace it when the mux is at MaxConns. Raft's heartbeats
// and replication keep live connections busier than that.
const evictMinIdle = time.Second

// MuxStats counts a mux's connections. Counters only grow.
type MuxStats struct {
	// Conns is the number of open connections past their protocol byte:
	// waiting for their first request or handed to a protocol listener.
	Conns int
	// Pending is the number of connections awaiting their protocol byte.
	Pending int
	// MaxConns, MaxConnsPerIP and MaxPending are the limits in force.
	MaxConns, MaxConnsPerIP, MaxPending int
	// Refused counts connections closed at once because MaxPending,
	// MaxConns or MaxConnsPerIP was reached.
	Refused uint64
	// Evicted counts idle connections closed to admit a new one at MaxConns.
	Evicted uint64
	// IdleClosed counts connections closed after IdleTimeout without traffic.
	IdleClosed uint64
}

// muxCounters are the counters behind [MuxStats].
type muxCounters struct {
	refused, evicted, idleClosed atomic.Uint64
}

// muxConn is a connection past its protocol byte. It closes itself, as a
// clean end of stream (io.EOF), when nothing is read or written for the
// mux's idle timeout while its owner is not busy with a request. It holds
// no buffer of its own: the owner's buffers live only as long as the
// connection does.
type muxConn struct {
	net.Conn // the TLS connection when the mux has TLS, else the raw one
	m        *Mux

	first []byte       // read while waiting for the first request; read only by the reader
	last  atomic.Int64 // unix nanoseconds of the last read or write
	busy  atomic.Int32 // requests the owner is serving; no idle close while > 0

	dmu      sync.Mutex // guards deadline
	deadline time.Time  // read deadline set by the owner; zero: none

	ip        netip.Addr // the peer's address, set by admit
	handed    bool       // guarded by m.mu: owned by a protocol listener's acceptor
	closeOnce sync.Once
	closeErr  error
}

func newMuxConn(m *Mux, c net.Conn) *muxConn {
	mc := &muxConn{Conn: c, m: m}
	mc.touch()
	return mc
}

func (c *muxConn) touch() { c.last.Store(time.Now().UnixNano()) }

func (c *muxConn) idleFor(now time.Time) time.Duration {
	return now.Sub(time.Unix(0, c.last.Load()))
}

// hold and release bracket a request being served, so that a long request
// with no traffic is not taken for an idle connection.
func (c *muxConn) hold()    { c.busy.Add(1) }
func (c *muxConn) release() { c.touch(); c.busy.Add(-1) }

// Read reads with a deadline of the idle timeout (or the owner's deadline
// when earlier). An idle timeout closes the connection and reads as io.EOF.
func (c *muxConn) Read(p []byte) (int, error) {
	if len(c.first) > 0 {
		n := copy(p, c.first)
		c.first = c.first[n:]
		if len(c.first) == 0 {
			c.first = nil // the buffer goes with its last byte
		}
		return n, nil
	}
	idle := c.m.cfg.IdleTimeout
	for {
		deadline, byIdle := time.Now().Add(idle), true
		c.dmu.Lock()
		if !c.deadline.IsZero() && c.deadline.Before(deadline) {
			deadline, byIdle = c.deadline, false
		}
		c.dmu.Unlock()
		if err := c.Conn.SetReadDeadline(deadline); err != nil {
			return 0, err
		}
		n, err := c.Conn.Read(p)
		if n > 0 || err == nil {
			c.touch()
			return n, err
		}
		if !byIdle || !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		if c.busy.Load() > 0 || c.idleFor(time.Now()) < idle {
			continue // written to, or serving a request: not idle
		}
		if c.shut() {
			c.m.counters.idleClosed.Add(1)
			c.m.log.Debug("rpc: mux closed idle connection", "remote", remoteAddr(c), "idle", idle)
		}
		return 0, io.EOF
	}
}

// Write implements net.Conn.
func (c *muxConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.touch()
	}
	return n, err
}

// SetDeadline implements net.Conn.
func (c *muxConn) SetDeadline(t time.Time) error {
	c.setReadDeadline(t)
	return c.Conn.SetWriteDeadline(t)
}

// SetReadDeadline implements net.Conn; Read applies it.
func (c *muxConn) SetReadDeadline(t time.Time) error {
	c.setReadDeadline(t)
	return c.Conn.SetReadDeadline(t)
}

func (c *muxConn) setReadDeadline(t time.Time) {
	c.dmu.Lock()
	c.deadline = t
	c.dmu.Unlock()
}

// Close closes the connection and forgets it.
func (c *muxConn) Close() error {
	c.shut()
	return c.closeErr
}

// shut closes the connection once; it reports whether this call did.
func (c *muxConn) shut() bool {
	did := false
	c.closeOnce.Do(func() {
		did = true
		c.m.forget(c)
		c.closeErr = c.Conn.Close()
	})
	return did
}

// firstReadSize is the buffer of the first read after the protocol byte.
const firstReadSize = 1 << 10

// awaitFirst reads what the connection sends first after the protocol byte,
// within the idle timeout, so that a connection that never sends a request
// costs its owner nothing: the owner's buffers are allocated at hand-off.
func (c *muxConn) awaitFirst() error {
	buf := make([]byte, firstReadSize)
	n, err := c.Read(buf)
	if n == 0 && err == nil {
		err = io.ErrNoProgress
	}
	if err != nil {
		return err
	}
	c.first = buf[:n]
	return nil
}

// BusyMarker is implemented by the connections a [Mux] hands out: a server
// marks a request in progress so that the connection is not closed as idle
// while it is served.
type BusyMarker interface {
	Hold()
	Release()
}

// Hold implements [BusyMarker].
func (c *muxConn) Hold() { c.hold() }

// Release implements [BusyMarker].
func (c *muxConn) Release() { c.release() }

var _ BusyMarker = (*muxConn)(nil)

// admit registers c as past its protocol byte. When c's address holds
// MaxConnsPerIP connections, or the mux MaxConns, it evicts the connection
// idle the longest among those (if idle for at least evictMinIdle), or
// refuses c (and returns false).
func (m *Mux) admit(c *muxConn) bool {
	c.ip = remoteIP(c)
	now := time.Now()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return false
	}
	var victim *muxConn
	limit, reason := 0, ""
	switch {
	case c.ip.IsValid() && m.perIP[c.ip] >= m.cfg.MaxConnsPerIP:
		limit, reason = m.cfg.MaxConnsPerIP, "too many open connections from one address"
		victim = m.idlest(now, func(o *muxConn) bool { return o.ip == c.ip })
	case len(m.conns) >= m.cfg.MaxConns:
		limit, reason = m.cfg.MaxConns, "too many open connections"
		victim = m.idlest(now, func(*muxConn) bool { return true })
	}
	if reason != "" && victim == nil {
		m.mu.Unlock()
		m.counters.refused.Add(1)
		m.refuseLog.Warn(m.log, "rpc: mux refused connections", "reason", reason, "limit", limit, "last_remote", remoteAddr(c))
		return false
	}
	if victim != nil {
		m.remove(victim)
	}
	m.conns[c] = struct{}{}
	if c.ip.IsValid() {
		m.perIP[c.ip]++
	}
	m.mu.Unlock()
	if victim != nil {
		if victim.shut() {
			m.counters.evicted.Add(1)
		}
		m.evictLog.Warn(m.log, "rpc: mux closed idle connections to admit new ones", "reason", reason, "limit", limit, "last_remote", remoteAddr(victim))
	}
	return true
}

// idlest returns the connection among those matching that has been idle
// the longest, at least evictAfter, with no request in service; nil if none.
// m.mu is held.
func (m *Mux) idlest(now time.Time, match func(*muxConn) bool) *muxConn {
	var victim *muxConn
	var most time.Duration
	for o := range m.conns {
		if d := o.idleFor(now); d >= m.evictAfter && d > most && o.busy.Load() == 0 && match(o) {
			victim, most = o, d
		}
	}
	return victim
}

// remove drops c from the counts; m.mu is held.
func (m *Mux) remove(c *muxConn) {
	if _, ok := m.conns[c]; !ok {
		return
	}
	delete(m.conns, c)
	if c.ip.IsValid() {
		if m.perIP[c.ip]--; m.perIP[c.ip] <= 0 {
			delete(m.perIP, c.ip)
		}
	}
}

// forget removes a closed connection from the mux's count.
func (m *Mux) forget(c *muxConn) {
	m.mu.Lock()
	m.remove(c)
	m.mu.Unlock()
}

// remoteIP returns the IP address of c's peer, or the zero Addr.
func remoteIP(c net.Conn) netip.Addr {
	ap, err := netip.ParseAddrPort(remoteAddr(c))
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// Stats returns the mux's connection counts.
func (m *Mux) Stats() MuxStats {
	m.mu.Lock()
	s := MuxStats{Conns: len(m.conns), Pending: len(m.pending)}
	m.mu.Unlock()
	s.MaxConns, s.MaxConnsPerIP, s.MaxPending = m.cfg.MaxConns, m.cfg.MaxConnsPerIP, m.cfg.MaxPending
	s.Refused = m.counters.refused.Load()
	s.Evicted = m.counters.evicted.Load()
	s.IdleClosed = m.counters.idleClosed.Load()
	return s
}
