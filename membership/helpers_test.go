package membership

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/conclave-go/conclave/internal/testkit"
)

// TestMain fails the run if goroutines outlive the tests. memberlist does
// not join a probe in flight at Shutdown (it ends within one probe
// interval), so the check is retried for a while.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := findLeaks(10 * time.Second); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// findLeaks returns goleak's report if goroutines remain after timeout.
func findLeaks(timeout time.Duration, opts ...goleak.Option) error {
	deadline := time.Now().Add(timeout)
	for {
		err := goleak.Find(opts...)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// testConfig is a Local-profile node on a free loopback port.
func testConfig(t testing.TB, name string) Config {
	return Config{Name: name, BindAddr: "127.0.0.1:0", Profile: Local, Logger: testkit.Logger(t)}
}

// startNode creates and starts a node; Close is registered as cleanup.
func startNode(t testing.TB, cfg Config) *Membership {
	t.Helper()
	m, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, m.Start(ctx))
	return m
}

// startCluster starts n nodes one after another, each seeded with the first.
func startCluster(t testing.TB, n int, tweak func(i int, cfg *Config)) []*Membership {
	t.Helper()
	nodes := make([]*Membership, n)
	for i := range n {
		cfg := testConfig(t, fmt.Sprintf("node-%d", i))
		if i > 0 {
			cfg.Seeds = []string{nodes[0].Local().Address()}
			cfg.WaitForJoin = true
		}
		if tweak != nil {
			tweak(i, &cfg)
		}
		nodes[i] = startNode(t, cfg)
	}
	return nodes
}

// countStatus returns how many members m sees with status s.
func countStatus(m *Membership, s Status) int {
	n := 0
	for _, mem := range m.Members() {
		if mem.Status == s {
			n++
		}
	}
	return n
}

// statusOfMember returns the status m has for name (StatusNone if unknown).
func statusOfMember(m *Membership, name string) Status {
	for _, mem := range m.Members() {
		if mem.Name == name {
			return mem.Status
		}
	}
	return StatusNone
}

// allSee reports whether every node sees want alive members.
func allSee(nodes []*Membership, want int) bool {
	for _, n := range nodes {
		if countStatus(n, StatusAlive) != want {
			return false
		}
	}
	return true
}

// recorder collects a subscription's events.
type recorder struct {
	mu     sync.Mutex
	events []Event
	done   chan struct{}
}

func record(sub *Subscription) *recorder {
	r := &recorder{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for ev := range sub.Events() {
			r.mu.Lock()
			r.events = append(r.events, ev)
			r.mu.Unlock()
		}
	}()
	return r
}

// of returns the recorded event types for the named member, in order.
func (r *recorder) of(name string) []EventType {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []EventType
	for _, ev := range r.events {
		if ev.Member.Name == name {
			out = append(out, ev.Type)
		}
	}
	return out
}

// has reports whether an event of type typ for name was recorded.
func (r *recorder) has(typ EventType, name string) bool {
	for _, t := range r.of(name) {
		if t == typ {
			return true
		}
	}
	return false
}

// last returns the last event recorded for name.
func (r *recorder) last(name string) (Event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.events) - 1; i >= 0; i-- {
		if r.events[i].Member.Name == name {
			return r.events[i], true
		}
	}
	return Event{}, false
}
