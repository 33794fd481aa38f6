package clustertest

import "github.com/conclave-go/conclave/internal/faultnet"

// Traffic counts what the link from one node to another carried and what
// the faults did to it, since the cluster started. Restarts of a node keep
// adding to its links.
type Traffic struct {
	// PacketsSent counts datagrams (gossip's UDP) sent on the link;
	// PacketsDropped those lost to a partition, cut, isolation, loss or
	// kill; PacketsHeld those held by a pause (counted again each time they
	// are held); PacketsDelayed those delayed; PacketsDelivered those that
	// reached the destination's socket.
	PacketsSent, PacketsDropped, PacketsHeld, PacketsDelayed, PacketsDelivered uint64
	// StreamBytesSent counts bytes written on TCP connections the sender
	// dialed (gossip's push-pull, Raft, RPC). Streams never lose bytes:
	// they stall while the link is cut and resume when it heals.
	StreamBytesSent uint64
	// DialsRefused counts connection attempts refused because the link was
	// cut.
	DialsRefused uint64
}

// Traffic returns the counters of the link from node from to node to.
func (c *Cluster) Traffic(from, to int) Traffic {
	c.rep.Helper()
	names, err := c.names([]int{from, to})
	if c.check(err) != nil {
		return Traffic{}
	}
	return trafficOf(c.net.LinkStats(names[0], names[1]))
}

func trafficOf(s faultnet.Stats) Traffic {
	return Traffic{
		PacketsSent:      s.PacketsSent,
		PacketsDropped:   s.PacketsDropped,
		PacketsHeld:      s.PacketsHeld,
		PacketsDelayed:   s.PacketsDelayed,
		PacketsDelivered: s.PacketsDelivered,
		StreamBytesSent:  s.StreamBytesSent,
		DialsRefused:     s.DialsRefused,
	}
}
