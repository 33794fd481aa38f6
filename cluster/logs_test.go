package cluster

import (
	"github.com/conclave-go/conclave/internal/testkit"

	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/membership"
)

// logRecorder is a slog.Handler that keeps every record it is given, with
// the attributes its loggers were built With.
type logRecorder struct {
	level slog.Level
	attrs []slog.Attr
	group string
	log   *recordLog
}

type recordLog struct {
	mu      sync.Mutex
	records []loggedRecord
}

type loggedRecord struct {
	level slog.Level
	msg   string
	keys  []string // attribute keys, group-qualified, With attributes first
	text  string
}

func newLogRecorder(level slog.Level) *logRecorder {
	return &logRecorder{level: level, log: &recordLog{}}
}

func (h *logRecorder) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	attrs := append([]slog.Attr(nil), h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		attrs = append(attrs, h.qualify(a))
		return true
	})
	rec := loggedRecord{level: r.Level, msg: r.Message}
	var b strings.Builder
	fmt.Fprintf(&b, "level=%s msg=%q", r.Level, r.Message)
	for _, a := range attrs {
		rec.keys = append(rec.keys, a.Key)
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
	}
	rec.text = b.String()
	h.log.mu.Lock()
	h.log.records = append(h.log.records, rec)
	h.log.mu.Unlock()
	return nil
}

func (h *logRecorder) qualify(a slog.Attr) slog.Attr {
	if h.group != "" {
		a.Key = h.group + "." + a.Key
	}
	return a
}

func (h *logRecorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append([]slog.Attr(nil), h.attrs...)
	for _, a := range attrs {
		c.attrs = append(c.attrs, h.qualify(a))
	}
	return &c
}

func (h *logRecorder) WithGroup(name string) slog.Handler {
	c := *h
	c.group = strings.TrimPrefix(h.group+"."+name, ".")
	return &c
}

func (h *logRecorder) records() []loggedRecord {
	h.log.mu.Lock()
	defer h.log.mu.Unlock()
	return append([]loggedRecord(nil), h.log.records...)
}

// TestDefaultLevelLogsNoWarningsThroughWritesAndLeave runs what a healthy
// cluster does (bootstrap, writes, a graceful leave) at the default level
// and requires that nothing asks for an operator's attention, and that every
// record names its node once.
func TestDefaultLevelLogsNoWarningsThroughWritesAndLeave(t *testing.T) {
	for _, leaver := range []string{"follower", "leader"} {
		t.Run(leaver, func(t *testing.T) {
			rec := newLogRecorder(slog.LevelInfo)
			nodes := startServers(t, 3, func(c *Config) {
				c.Logger = slog.New(rec)
				// WAN timings, so that a loaded machine (the race detector,
				// other tests) cannot delay a probe or a heartbeat past its
				// timeout, which would be warned about, rightly.
				c.Profile = ProfileWAN
			})
			lead := leaderOf(t, nodes)
			for i := range 100 {
				n := nodes[i%len(nodes)] // followers forward to the leader
				_, err := n.Apply(testkit.Context(t, 10*time.Second), fmt.Appendf(nil, "set k%d v%d", i, i))
				require.NoError(t, err)
			}

			gone := lead
			if leaver == "follower" {
				gone = running(nodes, lead)[0]
			}
			require.NoError(t, gone.Leave(testkit.Context(t, 20*time.Second)))
			rest := running(nodes, gone)
			testkit.WaitFor(t, 20*time.Second, func() bool {
				for _, n := range rest {
					cfg := configOf(t, n)
					if _, in := cfg[gone.Name()]; in || len(cfg) != 2 {
						return false
					}
					if statusIn(n, gone.Name()) != membership.StatusLeft {
						return false
					}
				}
				return true
			}, "the others to drop %s", gone.Name())
			_, err := leaderOf(t, rest).Apply(testkit.Context(t, 10*time.Second), []byte("set after leave"))
			require.NoError(t, err)

			records := rec.records()
			require.NotEmpty(t, records)
			for _, r := range records {
				if r.level >= slog.LevelWarn {
					t.Errorf("record at %s: %s", r.level, r.text)
				}
				if got := countKey(r.keys, "node"); got != 1 {
					t.Errorf("%d node attributes: %s", got, r.text)
				}
			}
		})
	}
}

func countKey(keys []string, key string) int {
	n := 0
	for _, k := range keys {
		if k == key {
			n++
		}
	}
	return n
}
