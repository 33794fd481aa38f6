package membership

import (
	"maps"
	"net"
	"net/netip"
	"strconv"
)

// Role says what a node may do in a Conclave cluster.
type Role uint8

const (
	// RoleClient is a membership-only node. It is the zero value.
	RoleClient Role = iota
	// RoleServer is a node that may hold a Raft seat.
	RoleServer
)

// String returns "client", "server" or "role(N)".
func (r Role) String() string {
	switch r {
	case RoleClient:
		return "client"
	case RoleServer:
		return "server"
	default:
		return "role(" + strconv.Itoa(int(r)) + ")"
	}
}

func (r Role) valid() bool { return r <= RoleServer }

// Status is a member's state as seen by the local node.
type Status uint8

const (
	// StatusNone is the zero value: the local node before Start.
	StatusNone Status = iota
	// StatusAlive is a member that answers probes (or has not yet been found
	// failing).
	StatusAlive
	// StatusLeft is a member that left gracefully. It stays listed until it
	// is reaped after the tombstone timeout.
	StatusLeft
	// StatusFailed is a member found unreachable by failure detection. It is
	// retried by the reconnect loop and reaped after the reconnect timeout.
	StatusFailed
)

// String returns "alive", "left", "failed", "none" or "status(N)".
func (s Status) String() string {
	switch s {
	case StatusNone:
		return "none"
	case StatusAlive:
		return "alive"
	case StatusLeft:
		return "left"
	case StatusFailed:
		return "failed"
	default:
		return "status(" + strconv.Itoa(int(s)) + ")"
	}
}

// Member is one node of the cluster as the local node knows it. Values are
// copies: changing one, including its Tags map, changes nothing else.
type Member struct {
	// Name is the node's unique name.
	Name string
	// Addr and Port are the node's gossip address.
	Addr netip.Addr
	Port uint16
	// Role is what the node advertised.
	Role Role
	// RPCAddr is the host:port the node advertised for Conclave's RPC and
	// Raft traffic; empty when it advertised none.
	RPCAddr string
	// Protocol is the membership protocol version the node speaks.
	Protocol uint8
	// Tags are the node's tags, including those with [ReservedTagPrefix].
	Tags map[string]string
	// Status is the node's state.
	Status Status
}

// Address returns the gossip address as host:port.
func (m Member) Address() string {
	if !m.Addr.IsValid() {
		return ""
	}
	return net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port)))
}

// clone returns a copy that shares no map with m.
func (m Member) clone() Member {
	m.Tags = maps.Clone(m.Tags)
	return m
}
