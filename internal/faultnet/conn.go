package faultnet

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// maxSegment bounds the bytes of one queued chunk, so that a large Write is
// spread over several chunks and the buffer limit applies to it.
const maxSegment = 64 << 10

// conn is a dialed stream. Bytes the user writes go through the outbound pipe
// (link local -> remote) and a writer goroutine; bytes from the peer are read
// by a reader goroutine into the inbound pipe (link remote -> local). Both
// goroutines are owned by the conn: Close (or Host.Kill) joins them, except
// that Close lets the writer flush what is still queued first, like a kernel
// finishing a send after close(2); Host.Kill and Network.Close abort such a
// flush.
type conn struct {
	raw        net.Conn
	host       *Host
	in, out    *pipe
	readerDone chan struct{}
	wg         sync.WaitGroup // the reader and writer goroutines

	closeOnce sync.Once
	rawOnce   sync.Once
}

func newConn(h *Host, raw net.Conn, remote string) *conn {
	limit := h.n.cfg.StreamBuffer
	c := &conn{
		raw:        raw,
		host:       h,
		out:        newPipe(h.n, h.name, remote, limit, true),
		in:         newPipe(h.n, remote, h.name, limit, false),
		readerDone: make(chan struct{}),
	}
	c.wg.Add(2)
	go c.readLoop()
	go c.writeLoop()
	return c
}

// Read reads bytes that have crossed the link from the peer. It honours the
// read deadline; while the link is cut or paused it sees no data.
func (c *conn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	k, err := c.in.read(b)
	return k, c.opErr("read", err)
}

// Write queues b for the peer and returns once it is queued; it blocks only
// while the direction's buffer is full, and honours the write deadline.
func (c *conn) Write(b []byte) (int, error) {
	written := 0
	for len(b) > 0 {
		k := min(len(b), maxSegment)
		delay := c.host.n.streamDelay(c.out.from, c.out.to, k)
		if err := c.out.push(bytes.Clone(b[:k]), time.Now().Add(delay), true); err != nil {
			return written, c.opErr("write", err)
		}
		written += k
		b = b[k:]
	}
	return written, nil
}

// Close stops reads and ends the stream after the queued bytes. When nothing
// is queued it closes the socket and joins the goroutines before returning;
// otherwise the writer flushes in the background and then closes.
func (c *conn) Close() error {
	first := false
	c.closeOnce.Do(func() { first = true })
	if !first {
		return c.opErr("close", net.ErrClosed)
	}
	c.in.abort()
	if c.out.closeWrite() {
		return nil
	}
	c.abort()
	c.host.untrack(c)
	return nil
}

// kill aborts the stream for Host.Kill.
func (c *conn) kill() {
	c.closeOnce.Do(func() {})
	c.abort()
}

// abort drops both directions, closes the socket and joins the goroutines.
func (c *conn) abort() {
	c.in.abort()
	c.out.abort()
	c.closeRaw()
	c.wg.Wait()
}

func (c *conn) closeRaw() { c.rawOnce.Do(func() { _ = c.raw.Close() }) }

// readLoop moves the peer's bytes into the inbound pipe, stamping each read
// with the link's delay, and ends with the socket's error (EOF or reset).
func (c *conn) readLoop() {
	defer c.wg.Done()
	defer close(c.readerDone)
	buf := make([]byte, 32<<10)
	for {
		k, err := c.raw.Read(buf)
		due := time.Now()
		if k > 0 {
			due = due.Add(c.host.n.streamDelay(c.in.from, c.in.to, k))
			if c.in.push(bytes.Clone(buf[:k]), due, false) != nil {
				return
			}
		}
		if err != nil {
			c.in.pushErr(err, due)
			return
		}
	}
}

// writeLoop writes the outbound pipe's chunks to the socket as they become
// deliverable. After Close has drained the pipe it closes the socket and
// forgets the conn.
func (c *conn) writeLoop() {
	defer c.wg.Done()
	for {
		data, err := c.out.next()
		if errors.Is(err, io.EOF) {
			c.closeRaw()
			<-c.readerDone
			c.host.untrack(c)
			return
		}
		if err != nil {
			return
		}
		_, err = c.raw.Write(data)
		c.out.finish(err)
		if err != nil {
			return
		}
	}
}

// opErr wraps the conn's own errors like the net package does; io.EOF and
// errors from the socket pass unchanged.
func (c *conn) opErr(op string, err error) error {
	var oe *net.OpError
	if err == nil || errors.Is(err, io.EOF) || errors.As(err, &oe) {
		return err
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.raw.LocalAddr(), Addr: c.raw.RemoteAddr(), Err: err}
}

// LocalAddr returns the local address.
func (c *conn) LocalAddr() net.Addr { return c.raw.LocalAddr() }

// RemoteAddr returns the peer's address.
func (c *conn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

// SetDeadline sets the read and write deadlines.
func (c *conn) SetDeadline(t time.Time) error {
	c.in.setDeadline(t)
	c.out.setDeadline(t)
	return nil
}

// SetReadDeadline sets the deadline of Read.
func (c *conn) SetReadDeadline(t time.Time) error {
	c.in.setDeadline(t)
	return nil
}

// SetWriteDeadline sets the deadline of Write.
func (c *conn) SetWriteDeadline(t time.Time) error {
	c.out.setDeadline(t)
	return nil
}
