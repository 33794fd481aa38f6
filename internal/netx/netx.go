// Package netx is the network seam that Conclave's transports are built on.
//
// Membership's memberlist transport and consensus's Raft stream layer and RPC
// both open their sockets through a [Network]. Production code uses [Real],
// which is the operating system's network; tests substitute a network that
// injects faults (see internal/faultnet) while still using real sockets, so
// that partitions, loss and delay affect gossip and consensus consistently.
package netx

import (
	"context"
	"net"
)

// Network opens listeners and dials connections. Implementations must be safe
// for concurrent use.
type Network interface {
	// Listen announces on a local stream address, like net.Listen.
	Listen(network, address string) (net.Listener, error)
	// ListenPacket announces on a local packet address, like net.ListenPacket.
	// The returned conn is used both to receive and to send datagrams, so the
	// source address of a sent datagram is the bound address.
	ListenPacket(network, address string) (net.PacketConn, error)
	// Dial connects to address, honouring ctx's deadline and cancellation.
	Dial(ctx context.Context, network, address string) (net.Conn, error)
}

// Real returns the operating system's network.
func Real() Network { return realNetwork{} }

// OrReal returns n, or [Real] when n is nil.
func OrReal(n Network) Network {
	if n == nil {
		return Real()
	}
	return n
}

type realNetwork struct{}

func (realNetwork) Listen(network, address string) (net.Listener, error) {
	return net.Listen(network, address)
}

func (realNetwork) ListenPacket(network, address string) (net.PacketConn, error) {
	return net.ListenPacket(network, address)
}

func (realNetwork) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}
