package membership

import (
	"net/netip"
	"time"

	"github.com/hashicorp/memberlist"
)

// eventDelegate turns memberlist's notifications into table changes and
// events. memberlist calls it with its node lock held, so it only updates
// the table and queues events: it never blocks and never calls memberlist.
type eventDelegate struct{ m *Membership }

var _ memberlist.EventDelegate = (*eventDelegate)(nil)

// NotifyJoin implements memberlist.EventDelegate.
func (d *eventDelegate) NotifyJoin(n *memberlist.Node) { d.m.observe(n, StatusAlive) }

// NotifyLeave implements memberlist.EventDelegate. memberlist calls it both
// for a graceful leave and for a detected failure, without telling which
// (Node.State is not filled in). A node that leaves gracefully first
// announces the leaving flag in its metadata, and that flag tells them
// apart.
func (d *eventDelegate) NotifyLeave(n *memberlist.Node) { d.m.observe(n, StatusFailed) }

// NotifyUpdate implements memberlist.EventDelegate.
func (d *eventDelegate) NotifyUpdate(n *memberlist.Node) { d.m.observe(n, StatusAlive) }

// observe records memberlist's current view of n: alive, or gone (failed,
// or left when its metadata carries the leaving flag).
func (m *Membership) observe(n *memberlist.Node, status Status) {
	member, leaving := m.memberFromNode(n)
	member.Status = status
	if status == StatusFailed && leaving {
		member.Status = StatusLeft
	}
	m.hub.change(func(t *table, now time.Time) []Event {
		if ev, ok := t.set(member, now); ok {
			return []Event{ev}
		}
		return nil
	})
}

// memberFromNode converts memberlist's node, decoding its metadata, and
// reports the node's leaving flag.
func (m *Membership) memberFromNode(n *memberlist.Node) (Member, bool) {
	addr, _ := netip.AddrFromSlice(n.Addr)
	member := Member{Name: n.Name, Addr: addr.Unmap(), Port: n.Port}
	meta, err := decodeMeta(n.Meta)
	if err != nil {
		// The alive delegate refuses such nodes; this is a safety net.
		m.logger.Warn("member with unreadable metadata", "member", n.Name, "error", err)
		return member, false
	}
	member.Role, member.RPCAddr, member.Protocol, member.Tags = meta.Role, meta.RPCAddr, meta.Protocol, meta.Tags
	return member, meta.Leaving
}
