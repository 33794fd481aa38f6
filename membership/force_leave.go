package membership

import (
	"fmt"
	"time"
)

// ForceLeave marks a failed member as left in this node's member list, as
// if it had left gracefully: subscribers get an EventLeave, the reconnect
// loop stops trying to reach it, and it is reaped after TombstoneTimeout
// instead of ReconnectTimeout. It changes this node's view only; memberlist
// has no way to declare another node gone, so other nodes keep the member
// as failed until they reap it (or until ForceLeave runs on them too). If
// the member comes back, it rejoins as usual.
//
// It fails, wrapping [ErrUnknownMember] or [ErrNotFailed], unless name is a
// failed member; the local node is never failed.
func (m *Membership) ForceLeave(name string) error {
	if _, err := m.running(); err != nil {
		return err
	}
	var err error
	m.hub.change(func(t *table, now time.Time) []Event {
		e, ok := t.entries[name]
		switch {
		case !ok:
			err = fmt.Errorf("%w: %q", ErrUnknownMember, name)
			return nil
		case e.member.Status != StatusFailed:
			err = fmt.Errorf("%w: %q is %s", ErrNotFailed, name, e.member.Status)
			return nil
		}
		left := e.member
		left.Status = StatusLeft
		if ev, ok := t.set(left, now); ok {
			return []Event{ev}
		}
		return nil
	})
	if err == nil {
		m.logger.Info("forced a failed member out", "member", name)
	}
	return err
}
