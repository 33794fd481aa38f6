package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/conclave-go/conclave/cluster"
)

// printer writes whole lines to one writer from several goroutines.
type printer struct {
	mu sync.Mutex // serialises writes to w
	w  io.Writer
}

func (p *printer) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format+"\n", args...)
}

// job is the work only the leader may do: here it prints a tick, tagged
// with the term, every interval. The term is the leadership's fencing
// token: anything the job writes elsewhere should carry it, so that a
// deposed leader that has not noticed yet is refused by a term check.
type job struct {
	out  *printer
	tick time.Duration
}

// lead runs while this node leads term; ctx is cancelled the moment
// leadership is lost or the node stops.
func (j *job) lead(ctx context.Context, term uint64) {
	j.out.printf("leading term=%d", term)
	defer j.out.printf("stopped leading term=%d", term)
	t := time.NewTicker(j.tick)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			j.out.printf("tick term=%d n=%d", term, n)
		}
	}
}

// follow prints every leader change this node observes, until the
// subscription ends.
func follow(sub *cluster.Subscription, self string, out *printer) {
	for ev := range sub.Events() {
		if ev.Type != cluster.EventLeaderChange {
			continue
		}
		switch ev.Leader.Name {
		case "":
			out.printf("no leader")
		case self:
		default:
			out.printf("following leader=%s term=%d", ev.Leader.Name, ev.Leader.Term)
		}
	}
}
