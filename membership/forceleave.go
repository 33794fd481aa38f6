package membership

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// ForceLeave moves a failed member to left on every member, at once instead
// of after Tuning.ReconnectTimeout: the reconnect loop stops trying it and
// subscribers see EventLeave. With prune, the member is also forgotten
// (EventReap), as are left members. The order is gossiped and also sent
// directly to up to 64 alive members. Members that see the node alive
// ignore it; a forced node that comes back joins again as usual. An unknown
// name wraps [ErrUnknownMember], an alive member [ErrNotFailed]; both also
// match [ErrInvalidArgument].
func (m *Membership) ForceLeave(name string, prune bool) error {
	if _, err := m.running(); err != nil {
		return err
	}
	var (
		mem   Member
		known bool
	)
	m.hub.read(func(t *table) { mem, known = t.get(name) })
	switch {
	case !known:
		return fmt.Errorf("%w: %w: no member %q", ErrInvalidArgument, ErrUnknownMember, name)
	case name == m.cfg.Name || mem.Status == StatusAlive:
		return fmt.Errorf("%w: %w: member %q is alive", ErrInvalidArgument, ErrNotFailed, name)
	}
	msg := forceLeaveMsg{LTime: m.msgs.eventClock.tick(), Name: name, Prune: prune}
	raw := msg.encode()
	m.handleForceLeave(msg, raw)
	var alive []Member
	m.hub.read(func(t *table) { alive = t.withStatus(StatusAlive) })
	rand.Shuffle(len(alive), func(i, j int) { alive[i], alive[j] = alive[j], alive[i] })
	for _, to := range alive[:min(len(alive), forceLeaveFanout)] {
		m.sendTo(to, raw)
	}
	m.logger.Info("forced a member out", "member", name, "prune", prune)
	return nil
}

// forceLeaveFanout is how many members a force-leave is sent to directly.
const forceLeaveFanout = 64

// handleForceLeave applies a force-leave seen for the first time and passes
// it on by gossip.
func (m *Membership) handleForceLeave(f forceLeaveMsg, raw []byte) {
	ms := m.msgs
	ms.eventClock.witness(f.LTime)
	key := fmt.Sprintf("\x00force-leave/%s/%t", f.Name, f.Prune)
	ms.mu.Lock()
	fresh := ms.eventSeen.add(f.LTime, ms.eventClock.time(), key, nil)
	ms.mu.Unlock()
	if !fresh {
		return
	}
	ms.queueBroadcast(raw)
	var applied []Event
	m.hub.change(func(t *table, now time.Time) []Event {
		applied = t.forceLeave(f.Name, f.Prune, now)
		return applied
	})
	for _, ev := range applied {
		if ev.Type == EventReap {
			m.coords.forget(ev.Member.Name)
		}
	}
}
