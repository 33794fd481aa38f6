package faultnet

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/conclave-go/conclave/internal/netx"
)

var _ netx.Network = (*Host)(nil)

// killable is a socket Host.Kill closes abruptly.
type killable interface {
	kill()
}

// Host is one node's view of a [Network]. It implements netx.Network: every
// address it binds is registered as its own, so traffic to that address is
// attributed to the link from the sending host to this one. Sockets opened
// through a Host are tracked until closed so that [Host.Kill] can close them.
type Host struct {
	n    *Network
	name string

	mu      sync.Mutex // guards the fields below
	epoch   uint64     // incremented by Kill; a socket opened in an older epoch is closed at once
	sockets map[killable]struct{}
}

func newHost(n *Network, name string) *Host {
	return &Host{n: n, name: name, sockets: make(map[killable]struct{})}
}

// Name returns the host's name.
func (h *Host) Name() string { return h.name }

// Listen announces on a local stream address, like net.Listen, and registers
// the bound address as this host's. Connections it accepts are passed
// through (faults are applied by the dialing side) but tracked for Kill.
func (h *Host) Listen(network, address string) (net.Listener, error) {
	epoch, err := h.begin()
	if err != nil {
		return nil, err
	}
	raw, err := net.Listen(network, address)
	if err != nil {
		return nil, err
	}
	l := &listener{Listener: raw, host: h, epoch: epoch}
	l.key, l.keyed = h.n.register(protoOf(network), raw.Addr(), h.name, l)
	if !h.track(l, epoch) {
		_ = l.Close()
		return nil, ErrKilled
	}
	return l, nil
}

// ListenPacket announces on a local packet address, like net.ListenPacket,
// and registers the bound address as this host's. Datagrams written to the
// returned conn go through the faults of the link to their destination.
func (h *Host) ListenPacket(network, address string) (net.PacketConn, error) {
	epoch, err := h.begin()
	if err != nil {
		return nil, err
	}
	raw, err := net.ListenPacket(network, address)
	if err != nil {
		return nil, err
	}
	pc := &packetConn{PacketConn: raw, host: h}
	pc.key, pc.keyed = h.n.register(protoOf(network), raw.LocalAddr(), h.name, pc)
	if !h.track(pc, epoch) {
		_ = pc.Close()
		return nil, ErrKilled
	}
	return pc, nil
}

// Dial connects to address. When address belongs to another host, the dial
// fails at once with a timeout-like error wrapping [ErrUnreachable] if the
// link is cut in either direction, and otherwise waits one round trip of the
// links' delay before connecting. The returned stream carries its bytes
// through the faults of the link in each direction. Addresses no host bound
// are dialled without faults.
func (h *Host) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	epoch, err := h.begin()
	if err != nil {
		return nil, err
	}
	to := h.n.hostOfDial(ctx, protoOf(network), address)
	if err := h.n.handshake(ctx, h.name, to); err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: dialAddr(address), Err: err}
	}
	var d net.Dialer
	raw, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	var c killable
	if protoOf(network) == "tcp" {
		c = newConn(h, raw, to)
	} else {
		c = &trackedConn{Conn: raw, host: h}
	}
	if !h.track(c, epoch) {
		c.kill()
		return nil, ErrKilled
	}
	return c.(net.Conn), nil
}

// handshake fails when from -> to or to -> from is cut, and otherwise waits
// out one round trip of delay, or ctx.
func (n *Network) handshake(ctx context.Context, from, to string) error {
	if !filtered(from, to) {
		return nil
	}
	n.mu.Lock()
	if n.faults.blocked(from, to) || n.faults.blocked(to, from) {
		n.statsLocked(from, to).DialsRefused++
		n.mu.Unlock()
		return unreachableError{}
	}
	rtt := n.delayLocked(from, to) + n.delayLocked(to, from)
	n.mu.Unlock()
	if rtt <= 0 {
		return nil
	}
	t := time.NewTimer(rtt)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Kill crashes the host: it closes every listener, packet socket and stream
// it opened or accepted, including streams still flushing after Close, and
// drops the datagrams queued from or to it. It returns once the streams'
// goroutines have exited. The host stays usable: a later Listen rebinds it
// (a restart) and refreshes its address registrations.
func (h *Host) Kill() {
	sockets, dropped := h.kill()
	h.n.logger.Info("kill", "host", h.name, "sockets", sockets, "datagrams_dropped", dropped)
}

// kill is Kill without the log record.
func (h *Host) kill() (sockets, dropped int) {
	h.mu.Lock()
	h.epoch++
	victims := make([]killable, 0, len(h.sockets))
	for s := range h.sockets {
		victims = append(victims, s)
	}
	clear(h.sockets)
	h.mu.Unlock()
	for _, s := range victims {
		s.kill()
	}
	return len(victims), h.n.sched.dropHost(h.name)
}

// begin returns the current epoch, or ErrClosed once the network is closed.
func (h *Host) begin() (uint64, error) {
	h.mu.Lock()
	epoch := h.epoch
	h.mu.Unlock()
	if h.n.isClosed() {
		return 0, ErrClosed
	}
	return epoch, nil
}

// track records s unless the host was killed since epoch.
func (h *Host) track(s killable, epoch uint64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.epoch != epoch {
		return false
	}
	h.sockets[s] = struct{}{}
	return true
}

// untrack forgets s.
func (h *Host) untrack(s killable) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.sockets, s)
}

// dialAddr is the net.Addr of a dial error.
type dialAddr string

func (a dialAddr) Network() string { return "tcp" }
func (a dialAddr) String() string  { return string(a) }
