package faultnet

import (
	"net"
	"sync"
	"time"
)

// action is what the network does with one datagram.
type action int

const (
	actSend  action = iota // write it now
	actDrop                // lose it
	actHold                // hold it until the pause ends
	actDelay               // deliver it later
)

// planPacket decides the fate of one datagram of size bytes sent on from ->
// to and counts it. Loss is drawn before the pause is checked, so a held datagram was
// already "not lost".
func (n *Network) planPacket(from, to string, size int) (action, time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.statsLocked(from, to)
	s.PacketsSent++
	s.PacketBytesSent += uint64(size)
	if n.faults.blocked(from, to) || n.lostLocked(from, to) {
		s.PacketsDropped++
		return actDrop, 0
	}
	if n.faults.held(from, to) {
		s.PacketsHeld++
		return actHold, 0
	}
	if d := n.delayLocked(from, to); d > 0 {
		s.PacketsDelayed++
		return actDelay, d
	}
	s.PacketsDelivered++
	return actSend, 0
}

// planDelivery decides the fate of a delayed or held datagram when it is due:
// a link cut meanwhile loses it, a pause holds it (again).
func (n *Network) planDelivery(from, to string) action {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.statsLocked(from, to)
	switch {
	case n.faults.blocked(from, to):
		s.PacketsDropped++
		return actDrop
	case n.faults.held(from, to):
		s.PacketsHeld++
		return actHold
	}
	s.PacketsDelivered++
	return actSend
}

// packetConn is a host's datagram socket. Reads pass through; WriteTo applies
// the faults of the link to the destination's host.
type packetConn struct {
	net.PacketConn
	host  *Host
	key   regKey
	keyed bool

	mu     sync.Mutex // guards closed
	closed bool
}

// WriteTo sends b to addr through the faults of the link to addr's host. A
// datagram the network loses is reported as sent, as on a real network.
// Datagrams to addresses no host bound pass through untouched.
func (pc *packetConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	from, to := pc.host.name, pc.host.n.hostOf("udp", addr)
	if !filtered(from, to) {
		return pc.PacketConn.WriteTo(b, addr)
	}
	if pc.isClosed() {
		return 0, &net.OpError{Op: "write", Net: "udp", Source: pc.LocalAddr(), Addr: addr, Err: net.ErrClosed}
	}
	act, delay := pc.host.n.planPacket(from, to, len(b))
	if act == actSend {
		return pc.PacketConn.WriteTo(b, addr)
	}
	if act == actDrop {
		return len(b), nil
	}
	d := &datagram{from: from, to: to, conn: pc.PacketConn, addr: addr, data: append([]byte(nil), b...)}
	if act == actHold {
		pc.host.n.sched.hold(d)
	} else {
		d.due = time.Now().Add(delay)
		pc.host.n.sched.schedule(d)
	}
	return len(b), nil
}

// Close unregisters the address and closes the socket.
func (pc *packetConn) Close() error {
	pc.mu.Lock()
	if pc.closed {
		pc.mu.Unlock()
		return &net.OpError{Op: "close", Net: "udp", Addr: pc.LocalAddr(), Err: net.ErrClosed}
	}
	pc.closed = true
	pc.mu.Unlock()
	if pc.keyed {
		pc.host.n.unregister(pc.key, pc)
	}
	pc.host.untrack(pc)
	return pc.PacketConn.Close()
}

// kill closes the socket for Host.Kill.
func (pc *packetConn) kill() { _ = pc.Close() }

func (pc *packetConn) isClosed() bool {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.closed
}
