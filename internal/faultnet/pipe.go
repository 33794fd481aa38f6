package faultnet

import (
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// chunk is a run of stream bytes, or the stream's terminal error, that may
// not be consumed before due.
type chunk struct {
	data []byte
	err  error
	due  time.Time
}

// pipe is one direction of a dialed stream: a bounded FIFO of chunks. The
// consumer takes the head chunk only once it is due and the link it crosses
// is open (not cut, partitioned, isolated or paused), so a cut or a pause
// stalls the stream, as TCP does while it retransmits, and Heal or Resume
// lets the bytes through in order. Nothing is ever lost, so a healed stream
// never carries garbage.
//
// One side of each pipe belongs to the user and honours a deadline: the
// producer of an outbound pipe (Write) and the consumer of an inbound one
// (Read). The other side is the connection's own goroutine.
type pipe struct {
	n        *Network
	from, to string // the link the bytes cross
	limit    int    // bytes the queue may hold before push blocks
	holdEOF  bool   // the end of stream also waits for an open link (outbound: a FIN is a segment too)

	mu       sync.Mutex // guards the fields below; may be held while taking Network.mu
	chunks   []chunk
	queued   int           // bytes in chunks
	busy     bool          // the consumer took a chunk and has not finished it
	deadline time.Time     // the user side's deadline; zero means none
	eof      bool          // no chunk will be pushed any more
	closed   bool          // aborted: chunks dropped, both sides fail
	err      error         // the consumer's failure, reported to the producer
	signal   chan struct{} // closed and replaced on every change
}

func newPipe(n *Network, from, to string, limit int, holdEOF bool) *pipe {
	return &pipe{n: n, from: from, to: to, limit: limit, holdEOF: holdEOF, signal: make(chan struct{})}
}

// notify wakes every waiter. p.mu is held.
func (p *pipe) notify() {
	close(p.signal)
	p.signal = make(chan struct{})
}

// wait releases p.mu until a change, a fault change (watch, may be nil) or
// until (zero means no timer), then takes it again.
func (p *pipe) wait(until time.Time, watch <-chan struct{}) {
	sig := p.signal
	p.mu.Unlock()
	defer p.mu.Lock()
	var timeout <-chan time.Time
	if !until.IsZero() {
		t := time.NewTimer(time.Until(until))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-sig:
	case <-watch:
	case <-timeout:
	}
}

// expired reports whether the user side's deadline has passed. p.mu is held.
func (p *pipe) expired(now time.Time) bool {
	return !p.deadline.IsZero() && !now.Before(p.deadline)
}

// push appends data, due no earlier than due, waiting while the queue is
// full. userSide makes it honour the deadline.
func (p *pipe) push(data []byte, due time.Time, userSide bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		switch {
		case p.closed || p.eof:
			return net.ErrClosed
		case p.err != nil:
			return p.err
		case userSide && p.expired(time.Now()):
			return os.ErrDeadlineExceeded
		case p.queued == 0 || p.queued+len(data) <= p.limit:
			p.chunks = append(p.chunks, chunk{data: data, due: due})
			p.queued += len(data)
			p.notify()
			return nil
		}
		var until time.Time
		if userSide {
			until = p.deadline
		}
		p.wait(until, nil)
	}
}

// pushErr appends the stream's terminal error (the peer's EOF or reset).
func (p *pipe) pushErr(err error, due time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.chunks = append(p.chunks, chunk{err: err, due: due})
		p.notify()
	}
}

// waitHead blocks until the head chunk may be consumed. It returns io.EOF
// once the producer is done and the queue is drained, net.ErrClosed after an
// abort, and os.ErrDeadlineExceeded when userSide and the deadline passed.
// p.mu is held.
func (p *pipe) waitHead(userSide bool) error {
	for {
		now := time.Now()
		if p.closed {
			return net.ErrClosed
		}
		if userSide && p.expired(now) {
			return os.ErrDeadlineExceeded
		}
		var until time.Time
		var watch <-chan struct{}
		switch {
		case len(p.chunks) > 0 && now.Before(p.chunks[0].due):
			until = p.chunks[0].due
		case len(p.chunks) > 0 || (p.eof && p.holdEOF):
			open, w := p.n.linkOpen(p.from, p.to)
			if open && len(p.chunks) > 0 {
				return nil
			}
			if open {
				return io.EOF
			}
			watch = w
		case p.eof:
			return io.EOF
		}
		if userSide && !p.deadline.IsZero() && (until.IsZero() || p.deadline.Before(until)) {
			until = p.deadline
		}
		p.wait(until, watch)
	}
}

// read copies the head chunk's bytes into b (the user's Read), returning the
// stream's terminal error once the data before it has been read.
func (p *pipe) read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.waitHead(true); err != nil {
		return 0, err
	}
	head := &p.chunks[0]
	if head.err != nil {
		return 0, head.err
	}
	k := copy(b, head.data)
	head.data = head.data[k:]
	p.queued -= k
	if len(head.data) == 0 {
		p.pop()
	}
	p.notify()
	return k, nil
}

// next takes the head chunk for the connection's writer goroutine, which
// must call finish once it has written it.
func (p *pipe) next() ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.waitHead(false); err != nil {
		return nil, err
	}
	data := p.chunks[0].data
	p.pop()
	p.queued -= len(data)
	p.busy = true
	p.notify()
	return data, nil
}

// pop removes the head chunk. p.mu is held.
func (p *pipe) pop() {
	p.chunks[0] = chunk{}
	p.chunks = p.chunks[1:]
}

// finish records that the chunk taken by next was written, or failed with
// err, which fails every later push and drops what is queued.
func (p *pipe) finish(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.busy = false
	if err != nil && p.err == nil {
		p.err = err
		p.chunks, p.queued = nil, 0
	}
	p.notify()
}

// closeWrite ends the stream after what is queued and reports whether the
// writer goroutine still has something to flush (bytes, or an end of stream
// waiting for the link to open).
func (p *pipe) closeWrite() (lingering bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.eof = true
	p.notify()
	if p.closed || p.err != nil {
		return false
	}
	if len(p.chunks) > 0 || p.busy {
		return true
	}
	open, _ := p.n.linkOpen(p.from, p.to)
	return !open
}

// abort drops everything and fails both sides.
func (p *pipe) abort() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.chunks, p.queued = nil, 0
	p.notify()
}

// setDeadline sets the user side's deadline.
func (p *pipe) setDeadline(t time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.deadline = t
	p.notify()
}
