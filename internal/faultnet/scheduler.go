package faultnet

import (
	"container/heap"
	"net"
	"sync"
	"time"
)

// datagram is a packet the scheduler delivers later: delayed, or held by a
// pause.
type datagram struct {
	due      time.Time
	seq      uint64 // breaks ties so that equal due times keep send order
	from, to string
	conn     net.PacketConn // the sender's real socket
	addr     net.Addr
	data     []byte // a private copy
}

// scheduler owns the one goroutine that delivers delayed and held datagrams.
type scheduler struct {
	n    *Network
	wake chan struct{} // buffered; a send means "the queue changed"
	stop chan struct{}
	done chan struct{}

	mu    sync.Mutex // guards the fields below; may be held while taking Network.mu
	queue datagramHeap
	held  []*datagram // in the order they were held
	seq   uint64
}

func newScheduler(n *Network) *scheduler {
	s := &scheduler{
		n:    n,
		wake: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go s.run()
	return s
}

// close stops the goroutine, waits for it and drops what is queued.
func (s *scheduler) close() {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue, s.held = nil, nil
}

// schedule queues d for delivery at d.due.
func (s *scheduler) schedule(d *datagram) {
	s.mu.Lock()
	s.seq++
	d.seq = s.seq
	heap.Push(&s.queue, d)
	s.mu.Unlock()
	s.poke()
}

// hold queues d until neither end of its link is paused. It pokes the
// goroutine in case the pause ended between the decision and this call.
func (s *scheduler) hold(d *datagram) {
	s.mu.Lock()
	s.held = append(s.held, d)
	s.mu.Unlock()
	s.poke()
}

func (s *scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *scheduler) run() {
	defer close(s.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		watch := s.n.watchChan()
		s.releaseHeld()
		next, pending := s.deliverDue()
		var timeout <-chan time.Time
		if pending {
			timer.Reset(time.Until(next))
			timeout = timer.C
		}
		select {
		case <-s.stop:
			timer.Stop()
			return
		case <-s.wake:
		case <-watch:
		case <-timeout:
		}
		timer.Stop()
	}
}

// releaseHeld moves the held datagrams whose link is no longer paused to the
// front of the delivery queue, keeping their order.
func (s *scheduler) releaseHeld() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	kept := s.held[:0]
	for _, d := range s.held {
		if s.n.linkHeld(d.from, d.to) {
			kept = append(kept, d)
			continue
		}
		s.seq++
		d.due, d.seq = now, s.seq
		heap.Push(&s.queue, d)
	}
	clear(s.held[len(kept):])
	s.held = kept
}

// deliverDue delivers every datagram that is due and returns the due time of
// the next one, if any.
func (s *scheduler) deliverDue() (time.Time, bool) {
	now := time.Now()
	var due []*datagram
	s.mu.Lock()
	for s.queue.Len() > 0 && !s.queue[0].due.After(now) {
		due = append(due, heap.Pop(&s.queue).(*datagram))
	}
	var next time.Time
	pending := s.queue.Len() > 0
	if pending {
		next = s.queue[0].due
	}
	s.mu.Unlock()
	for _, d := range due {
		s.deliver(d)
	}
	return next, pending
}

// deliver writes d unless its link was cut or paused while it was in flight.
func (s *scheduler) deliver(d *datagram) {
	switch s.n.planDelivery(d.from, d.to) {
	case actHold:
		s.hold(d)
	case actDrop:
	default:
		// The sender may have closed its socket meanwhile; the datagram is
		// then lost, which is what a lossy network may do anyway.
		_, _ = d.conn.WriteTo(d.data, d.addr)
	}
}

// dropHost discards every queued or held datagram from or to host and
// returns how many it discarded.
func (s *scheduler) dropHost(host string) int {
	s.mu.Lock()
	var dropped []*datagram
	keep := func(d *datagram) bool {
		if d.from == host || d.to == host {
			dropped = append(dropped, d)
			return false
		}
		return true
	}
	queue := s.queue[:0]
	for _, d := range s.queue {
		if keep(d) {
			queue = append(queue, d)
		}
	}
	clear(s.queue[len(queue):])
	s.queue = queue
	heap.Init(&s.queue)
	held := s.held[:0]
	for _, d := range s.held {
		if keep(d) {
			held = append(held, d)
		}
	}
	clear(s.held[len(held):])
	s.held = held
	s.mu.Unlock()
	for _, d := range dropped {
		s.n.count(d.from, d.to, func(st *Stats) { st.PacketsDropped++ })
	}
	return len(dropped)
}

// datagramHeap orders datagrams by due time, then by sequence.
type datagramHeap []*datagram

func (h datagramHeap) Len() int { return len(h) }
func (h datagramHeap) Less(i, j int) bool {
	if h[i].due.Equal(h[j].due) {
		return h[i].seq < h[j].seq
	}
	return h[i].due.Before(h[j].due)
}
func (h datagramHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *datagramHeap) Push(x any)   { *h = append(*h, x.(*datagram)) }
func (h *datagramHeap) Pop() any {
	old := *h
	d := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return d
}
