package logadapt

import (
	"log/slog"
	"sync"
	"time"
)

// ThrottleInterval is the least time between two records of one [Throttle].
const ThrottleInterval = 10 * time.Second

// Throttle writes at most one WARN record per ThrottleInterval; the next
// record carries the count of those suppressed in between, so that a flood
// (of refused connections, say) costs a few log lines, not one per event.
// The zero value is ready to use.
type Throttle struct {
	mu         sync.Mutex // guards the fields below
	last       time.Time
	suppressed int
}

// Warn logs msg with attrs, unless a record was written less than
// ThrottleInterval ago.
func (r *Throttle) Warn(log *slog.Logger, msg string, attrs ...any) {
	now := time.Now()
	r.mu.Lock()
	if !r.last.IsZero() && now.Sub(r.last) < ThrottleInterval {
		r.suppressed++
		r.mu.Unlock()
		return
	}
	n := r.suppressed
	r.last, r.suppressed = now, 0
	r.mu.Unlock()
	log.Warn(msg, append(attrs, "suppressed_since_last", n)...)
}
