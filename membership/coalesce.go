package membership

import "time"

// coalescer merges bursts of user events of one name into the last of them.
// An event waits until no event of its name arrived for quiet, or until
// period passed since the first of the burst, whichever is sooner; then
// only the event with the highest Lamport time is delivered, with the
// number it stands for. Pure: the caller supplies the time and owns the
// goroutine. Not safe for concurrent use.
type coalescer struct {
	period, quiet time.Duration
	pending       map[string]*pendingEvent
	order         []string // names in order of their first pending event
}

type pendingEvent struct {
	ev          UserEvent
	first, last time.Time
}

func newCoalescer(period, quiet time.Duration) *coalescer {
	return &coalescer{period: period, quiet: quiet, pending: map[string]*pendingEvent{}}
}

// add records ev, received at now.
func (c *coalescer) add(ev UserEvent, now time.Time) {
	p, ok := c.pending[ev.Name]
	if !ok {
		ev.Coalesced = 1
		c.pending[ev.Name] = &pendingEvent{ev: ev, first: now, last: now}
		c.order = append(c.order, ev.Name)
		return
	}
	count := p.ev.Coalesced + 1
	if ev.LTime >= p.ev.LTime {
		p.ev = ev
	}
	p.ev.Coalesced, p.last = count, now
}

// due removes and returns the events ready at now, in order of their first
// arrival, and the time the next one will be ready (zero if none pending).
func (c *coalescer) due(now time.Time) (ready []UserEvent, next time.Time) {
	kept := c.order[:0]
	for _, name := range c.order {
		p := c.pending[name]
		at := p.last.Add(c.quiet)
		if end := p.first.Add(c.period); end.Before(at) {
			at = end
		}
		if !now.Before(at) {
			ready = append(ready, p.ev)
			delete(c.pending, name)
			continue
		}
		kept = append(kept, name)
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	c.order = kept
	return ready, next
}
