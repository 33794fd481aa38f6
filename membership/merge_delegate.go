package membership

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// mergeDelegate vets the node list a peer sends when a join's state
// exchange happens, on both sides: malformed metadata or a name that a live
// member holds at another address cancels the merge.
type mergeDelegate struct{ m *Membership }

var _ memberlist.MergeDelegate = (*mergeDelegate)(nil)

// NotifyMerge implements memberlist.MergeDelegate. It is called without
// memberlist's locks held.
func (d *mergeDelegate) NotifyMerge(peers []*memberlist.Node) error {
	for _, p := range peers {
		if !liveState(p.State) {
			continue
		}
		if _, err := decodeMeta(p.Meta); err != nil {
			return fmt.Errorf("membership: refusing merge: node %q at %s: %w", p.Name, p.Address(), err)
		}
	}
	c := d.m.findConflict(peers)
	if c == nil {
		return nil
	}
	d.m.conflicts.add(c, peers)
	d.m.logger.Warn("refusing merge: node name held at two addresses",
		"member", c.Name, "address_here", c.Candidate, "address_there", c.Existing)
	return c
}

// liveState reports whether a peer reports the node as alive or suspect.
func liveState(s memberlist.NodeStateType) bool {
	return s == memberlist.StateAlive || s == memberlist.StateSuspect
}

// findConflict returns the first peer that a remote node reports alive
// under a name our table has alive at a different address. Existing is the
// remote's address for it and Candidate ours: seen from a joining node, the
// cluster holds the name and this side is refused.
func (m *Membership) findConflict(peers []*memberlist.Node) *NameConflictError {
	var found *NameConflictError
	m.hub.read(func(t *table) {
		for _, p := range peers {
			known, ok := t.entries[p.Name]
			if !ok || known.member.Status != StatusAlive || !liveState(p.State) {
				continue
			}
			if there := p.Address(); !sameAddr(there, known.member.Address()) {
				found = &NameConflictError{Name: p.Name, Existing: there, Candidate: known.member.Address()}
				return
			}
		}
	})
	return found
}

// conflictDelegate logs memberlist's own detection of a name announced from
// two addresses. memberlist keeps the entry it has.
type conflictDelegate struct{ m *Membership }

var _ memberlist.ConflictDelegate = (*conflictDelegate)(nil)

// NotifyConflict implements memberlist.ConflictDelegate.
func (d *conflictDelegate) NotifyConflict(existing, other *memberlist.Node) {
	d.m.logger.Warn("node name announced from a second address; keeping the first",
		"member", existing.Name, "address", existing.Address(), "other_address", other.Address())
}

// conflictLog remembers recent refused merges with the addresses of the
// node list they came with, so that a join can tell whether its own state
// exchange with a given address was refused for a name conflict.
type conflictLog struct {
	mu      sync.Mutex // guards records
	records []conflictRecord
}

type conflictRecord struct {
	err   *NameConflictError
	addrs []string
	at    time.Time
}

const maxConflictRecords = 16

func (l *conflictLog) add(c *NameConflictError, peers []*memberlist.Node) {
	addrs := make([]string, 0, len(peers))
	for _, p := range peers {
		addrs = append(addrs, p.Address())
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, conflictRecord{err: c, addrs: addrs, at: time.Now()})
	if n := len(l.records); n > maxConflictRecords {
		l.records = slices.Delete(l.records, 0, n-maxConflictRecords)
	}
}

// find returns a conflict recorded since since from a node list that
// included addr.
func (l *conflictLog) find(addr string, since time.Time) *NameConflictError {
	want, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil
	}
	want = netip.AddrPortFrom(want.Addr().Unmap(), want.Port())
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.records) - 1; i >= 0; i-- {
		r := l.records[i]
		if r.at.Before(since) {
			break
		}
		for _, a := range r.addrs {
			if sameAddr(a, want.String()) {
				return r.err
			}
		}
	}
	return nil
}

// sameAddr reports whether two "ip:port" strings name the same endpoint,
// treating IPv4-mapped IPv6 addresses as IPv4.
func sameAddr(a, b string) bool {
	pa, errA := netip.ParseAddrPort(a)
	pb, errB := netip.ParseAddrPort(b)
	if errA != nil || errB != nil {
		return a == b
	}
	return pa.Addr().Unmap() == pb.Addr().Unmap() && pa.Port() == pb.Port()
}
