package clustertest

import (
	"context"
	"errors"
	"net"
	"sync/atomic"

	"github.com/conclave-go/conclave/internal/faultnet"
	"github.com/conclave-go/conclave/internal/netx"
)

// errKilled is the cause of every socket operation of a killed instance.
var errKilled = errors.New("clustertest: node killed")

// nodeNet is the network one instance of a node opens its sockets through:
// its host until the instance is killed, nothing afterwards. A killed node
// still runs its shutdown, and must not reach anyone meanwhile.
type nodeNet struct {
	host *faultnet.Host
	dead atomic.Bool
}

var _ netx.Network = (*nodeNet)(nil)

// kill refuses every new socket, then closes every open one abruptly.
// Sockets whose opening races with it are closed by the host.
func (n *nodeNet) kill() {
	n.dead.Store(true)
	n.host.Kill()
}

func (n *nodeNet) Listen(network, addr string) (net.Listener, error) {
	if n.dead.Load() {
		return nil, &net.OpError{Op: "listen", Net: network, Err: errKilled}
	}
	return n.host.Listen(network, addr)
}

func (n *nodeNet) ListenPacket(network, addr string) (net.PacketConn, error) {
	if n.dead.Load() {
		return nil, &net.OpError{Op: "listen", Net: network, Err: errKilled}
	}
	return n.host.ListenPacket(network, addr)
}

func (n *nodeNet) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if n.dead.Load() {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errKilled}
	}
	return n.host.Dial(ctx, network, addr)
}
