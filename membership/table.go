package membership

import (
	"cmp"
	"maps"
	"slices"
	"time"
)

// table is the local node's view of the cluster: every member that is
// alive, or failed or left and not yet reaped. It is plain data, owned by
// the caller's lock; each change returns the events it causes.
type table struct {
	local   string
	entries map[string]*entry
}

type entry struct {
	member Member
	since  time.Time // when member.Status last changed
}

func newTable(local string) *table {
	return &table{local: local, entries: make(map[string]*entry)}
}

// set records m (already carrying its new Status) and returns the event the
// change means: join when the member becomes alive, update when an alive
// member changes, leave or failed when it stops being alive.
func (t *table) set(m Member, now time.Time) (Event, bool) {
	e, known := t.entries[m.Name]
	if !known {
		e = &entry{since: now}
		t.entries[m.Name] = e
	}
	old := e.member
	if !known || old.Status != m.Status {
		e.since = now
	}
	e.member = m
	if known && sameMember(old, m) {
		return Event{}, false // e.g. a node announcing that it is leaving
	}
	ev, ok := transition(old.Status, known, m.Status)
	return Event{Type: ev, Member: m.clone()}, ok
}

// sameMember reports whether a and b are equal in every field.
func sameMember(a, b Member) bool {
	return a.Name == b.Name && a.Addr == b.Addr && a.Port == b.Port && a.Role == b.Role &&
		a.RPCAddr == b.RPCAddr && a.Protocol == b.Protocol && a.Status == b.Status &&
		maps.Equal(a.Tags, b.Tags)
}

// transition maps a status change to an event type.
func transition(old Status, known bool, now Status) (EventType, bool) {
	switch now {
	case StatusAlive:
		if known && old == StatusAlive {
			return EventUpdate, true
		}
		return EventJoin, true
	case StatusLeft:
		return EventLeave, !known || old != StatusLeft
	case StatusFailed:
		return EventFailed, !known || old != StatusFailed
	}
	return 0, false
}

// reap removes failed members older than failedTTL and left members older
// than leftTTL, never the local node.
func (t *table) reap(now time.Time, failedTTL, leftTTL time.Duration) []Event {
	var evs []Event
	for _, name := range t.names() {
		e := t.entries[name]
		if name == t.local {
			continue
		}
		ttl := failedTTL
		switch e.member.Status {
		case StatusFailed:
		case StatusLeft:
			ttl = leftTTL
		default:
			continue
		}
		if now.Sub(e.since) >= ttl {
			delete(t.entries, name)
			evs = append(evs, Event{Type: EventReap, Member: e.member.clone()})
		}
	}
	return evs
}

// forceLeave marks a failed member left and, with prune, forgets a failed
// or left member at once. Alive members and the local node are untouched.
func (t *table) forceLeave(name string, prune bool, now time.Time) []Event {
	e, ok := t.entries[name]
	if !ok || name == t.local || e.member.Status == StatusAlive {
		return nil
	}
	var evs []Event
	if e.member.Status == StatusFailed {
		e.member.Status, e.since = StatusLeft, now
		evs = append(evs, Event{Type: EventLeave, Member: e.member.clone()})
	}
	if prune {
		delete(t.entries, name)
		evs = append(evs, Event{Type: EventReap, Member: e.member.clone()})
	}
	return evs
}

func (t *table) names() []string {
	names := make([]string, 0, len(t.entries))
	for n := range t.entries {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// get returns a copy of the named member.
func (t *table) get(name string) (Member, bool) {
	e, ok := t.entries[name]
	if !ok {
		return Member{}, false
	}
	return e.member.clone(), true
}

// members returns copies of every member, sorted by name.
func (t *table) members() []Member {
	out := make([]Member, 0, len(t.entries))
	for _, e := range t.entries {
		out = append(out, e.member.clone())
	}
	slices.SortFunc(out, func(a, b Member) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// withStatus returns the other members (not the local node) with status s.
func (t *table) withStatus(s Status) []Member {
	var out []Member
	for _, m := range t.members() {
		if m.Name != t.local && m.Status == s {
			out = append(out, m)
		}
	}
	return out
}
