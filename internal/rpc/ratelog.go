package rpc

import (
	"log/slog"
	"sync"
	"time"
)

// rateLogInterval is the least time between two records of one rateLog.
const rateLogInterval = 10 * time.Second

// rateLog writes at most one WARN record per rateLogInterval; the next
// record carries the count of those suppressed in between, so that a flood
// of refused connections costs a few log lines, not one per connection.
type rateLog struct {
	mu         sync.Mutex // guards the fields below
	last       time.Time
	suppressed int
}

func (r *rateLog) warn(log *slog.Logger, msg string, attrs ...any) {
	now := time.Now()
	r.mu.Lock()
	if !r.last.IsZero() && now.Sub(r.last) < rateLogInterval {
		r.suppressed++
		r.mu.Unlock()
		return
	}
	n := r.suppressed
	r.last, r.suppressed = now, 0
	r.mu.Unlock()
	log.Warn(msg, append(attrs, "suppressed_since_last", n)...)
}
