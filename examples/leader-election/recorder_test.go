package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// overlapGrace is how long a deposed leader may still print ticks after a
// newer term's leader started. A leader learns it was deposed only when it
// fails to reach a quorum for a leader lease (500ms in the local profile) or
// hears of the newer term; this also covers lines from different processes
// reaching the recorder out of order.
const overlapGrace = 2 * time.Second

// recorder follows the stdout lines of every process and checks that no
// two live processes lead at once.
type recorder struct {
	mu         sync.Mutex        // guards the fields below
	leading    map[string]uint64 // instance → term it leads, by its latest lines
	dead       map[string]bool   // instances that exited
	leads      []lead            // every "leading" line, in arrival order
	stops      []lead            // every "stopped leading" line, in arrival order
	following  map[string]string // instance → leader it last reported following
	ticks      map[uint64]int    // term → ticks printed
	overlaps   []*overlap
	violations []string
}

type lead struct {
	instance string
	term     uint64
}

// overlap is a leader that started while an older term's leader had not yet
// stopped.
type overlap struct {
	older    string
	term     uint64
	since    time.Time
	resolved time.Duration // how long until the older one stopped or died; 0 while open
}

func newRecorder() *recorder {
	return &recorder{
		leading: map[string]uint64{}, dead: map[string]bool{},
		following: map[string]string{}, ticks: map[uint64]int{},
	}
}

// line records one stdout line of instance.
func (r *recorder) line(instance, line string) {
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return
	}
	kv := map[string]string{}
	for _, f := range fields[1:] {
		if k, v, ok := strings.Cut(f, "="); ok {
			kv[k] = v
		}
	}
	term, _ := strconv.ParseUint(kv["term"], 10, 64)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dead[instance] {
		return
	}
	switch {
	case fields[0] == "leading":
		r.startLeading(instance, term)
	case fields[0] == "stopped":
		r.stops = append(r.stops, lead{instance, term})
		r.stopLeading(instance)
	case fields[0] == "tick":
		r.ticks[term]++
	case fields[0] == "following":
		r.following[instance] = kv["leader"]
	}
}

func (r *recorder) startLeading(instance string, term uint64) {
	for other, t := range r.leading {
		if t >= term {
			r.violations = append(r.violations, fmt.Sprintf("%s leads term %d while %s leads term %d", instance, term, other, t))
			continue
		}
		r.overlaps = append(r.overlaps, &overlap{older: other, term: t, since: time.Now()})
	}
	r.leading[instance] = term
	r.leads = append(r.leads, lead{instance, term})
}

func (r *recorder) stopLeading(instance string) {
	delete(r.leading, instance)
	for _, o := range r.overlaps {
		if o.older == instance && o.resolved == 0 {
			o.resolved = max(time.Since(o.since), time.Nanosecond)
		}
	}
}

// exited marks instance dead once its output is fully read.
func (r *recorder) exited(instance string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopLeading(instance)
	r.dead[instance] = true
}

// problems returns the violations, counting overlaps that lasted (or have
// lasted so far) longer than overlapGrace.
func (r *recorder) problems() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]string(nil), r.violations...)
	for _, o := range r.overlaps {
		d := o.resolved
		if d == 0 {
			d = time.Since(o.since)
		}
		if d > overlapGrace {
			out = append(out, fmt.Sprintf("%s kept leading term %d for %v after a newer leader started", o.older, o.term, d))
		}
	}
	return out
}

// leadsSince returns the "leading" lines after the first n.
func (r *recorder) leadsSince(n int) []lead {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]lead(nil), r.leads[n:]...)
}

// current returns the single live leader and its term, if exactly one
// instance leads.
func (r *recorder) current() (string, uint64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.leading) != 1 {
		return "", 0, false
	}
	for inst, term := range r.leading {
		return inst, term, true
	}
	return "", 0, false
}

// stopped reports whether instance printed "stopped leading term=term".
func (r *recorder) stopped(instance string, term uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.stops, lead{instance, term})
}

func (r *recorder) tickCount(term uint64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ticks[term]
}

func (r *recorder) follows(instance string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.following[instance]
}
