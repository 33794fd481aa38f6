package admin

import (
	"sync"
	"time"

	"github.com/conclave-go/conclave/cluster"
)

// eventRing keeps the latest events of a subscription, fed by one goroutine.
type eventRing struct {
	sub  *cluster.Subscription
	done chan struct{} // closed when the feeding goroutine exits

	mu   sync.Mutex // guards buf, next, full
	buf  []EventDoc
	next int  // where the next event goes
	full bool // buf has wrapped
}

func newEventRing(sub *cluster.Subscription, size int) *eventRing {
	r := &eventRing{sub: sub, done: make(chan struct{}), buf: make([]EventDoc, size)}
	go r.feed()
	return r
}

func (r *eventRing) feed() {
	defer close(r.done)
	for ev := range r.sub.Events() {
		r.add(eventDoc(time.Now().UTC(), ev))
	}
}

func eventDoc(now time.Time, ev cluster.Event) EventDoc {
	d := EventDoc{Time: now, Type: ev.Type.String()}
	if ev.Type == cluster.EventLeaderChange {
		l := leaderDoc(ev.Leader)
		d.Leader = &l
	} else {
		m := memberDoc(ev.Member)
		d.Member = &m
	}
	return d
}

func (r *eventRing) add(d EventDoc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf[r.next] = d
	r.next = (r.next + 1) % len(r.buf)
	if r.next == 0 {
		r.full = true
	}
}

// list returns the events, oldest first, and the drop count.
func (r *eventRing) list() ([]EventDoc, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]EventDoc, 0, len(r.buf))
	if r.full {
		out = append(out, r.buf[r.next:]...)
	}
	out = append(out, r.buf[:r.next]...)
	return out, r.sub.Dropped()
}

func (r *eventRing) close() {
	r.sub.Close()
	<-r.done
}
