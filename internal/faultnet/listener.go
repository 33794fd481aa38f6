package faultnet

import (
	"net"
	"sync"
)

// listener is a host's stream listener: it registers its address and tracks
// the connections it accepts so that Host.Kill can close them.
type listener struct {
	net.Listener
	host  *Host
	epoch uint64 // the host's epoch when it was opened
	key   regKey
	keyed bool
	once  sync.Once
}

// Accept waits for the next connection. Accepted connections are passed
// through untouched: the dialing side applies the faults in both directions.
func (l *listener) Accept() (net.Conn, error) {
	raw, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	c := &trackedConn{Conn: raw, host: l.host}
	if !l.host.track(c, l.epoch) {
		_ = raw.Close()
		return nil, &net.OpError{Op: "accept", Net: l.Addr().Network(), Addr: l.Addr(), Err: net.ErrClosed}
	}
	return c, nil
}

// Close unregisters the address and closes the listener.
func (l *listener) Close() error {
	err := error(&net.OpError{Op: "close", Net: l.Addr().Network(), Addr: l.Addr(), Err: net.ErrClosed})
	l.once.Do(func() {
		if l.keyed {
			l.host.n.unregister(l.key, l)
		}
		l.host.untrack(l)
		err = l.Listener.Close()
	})
	return err
}

func (l *listener) kill() { _ = l.Close() }

// trackedConn is a connection passed through untouched but tracked for
// Host.Kill: accepted streams, and dialed non-TCP connections.
type trackedConn struct {
	net.Conn
	host *Host
	once sync.Once
}

// Close forgets the connection and closes it.
func (c *trackedConn) Close() error {
	err := error(&net.OpError{Op: "close", Net: c.LocalAddr().Network(), Addr: c.RemoteAddr(), Err: net.ErrClosed})
	c.once.Do(func() {
		c.host.untrack(c)
		err = c.Conn.Close()
	})
	return err
}

func (c *trackedConn) kill() { _ = c.Close() }
