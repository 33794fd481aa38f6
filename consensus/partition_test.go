package consensus

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/faultnet"
	"github.com/conclave-go/conclave/internal/testkit"
)

// leaderEvent records an OnLeader callback starting or ending.
type leaderEvent struct {
	node  int
	term  uint64
	start bool
}

type leaderLog struct {
	mu     sync.Mutex
	events []leaderEvent
}

func (l *leaderLog) add(e leaderEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *leaderLog) has(match func(leaderEvent) bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.events {
		if match(e) {
			return true
		}
	}
	return false
}

func newFaultCluster(t *testing.T, n int) (*testCluster, *faultnet.Network) {
	fn := faultnet.New(1, nil)
	t.Cleanup(func() { _ = fn.Close() }) // runs after the nodes are closed
	c := newCluster(t, n, func(i int, cfg *Config) { cfg.Network = fn.Host(cfg.Name) })
	return c, fn
}

// An isolated leader never answers a linearizable read with data older than
// a write the majority acknowledged; its OnLeader context is cancelled, and
// the new leader's callback runs with a higher term.
func TestPartitionedLeader(t *testing.T) {
	c, fn := newFaultCluster(t, 3)
	ctx := testkit.Context(t, 60*time.Second)
	var log leaderLog
	for i, nd := range c.nodes {
		nd.OnLeader(func(ctx context.Context, term uint64) {
			log.add(leaderEvent{node: i, term: term, start: true})
			<-ctx.Done()
			log.add(leaderEvent{node: i, term: term})
		})
	}
	old := c.waitReadyLeader()
	oldTerm := c.nodes[old].Leader().Term
	testkit.WaitFor(t, 10*time.Second, func() bool {
		return log.has(func(e leaderEvent) bool { return e.node == old && e.start && e.term == oldTerm })
	}, "OnLeader on the first leader")
	c.apply(ctx, old, "set:x=1")

	// Read continuously on the old leader from before the partition on.
	type read struct {
		start time.Time
		value string
		err   error
	}
	var mu sync.Mutex
	var reads []read
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			r := read{start: time.Now()}
			rctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			r.err = c.nodes[old].Read(rctx, Linearizable, func(sm StateMachine) error {
				r.value, _ = sm.(*kvFSM).get("x")
				return nil
			})
			cancel()
			mu.Lock()
			reads = append(reads, r)
			mu.Unlock()
		}
	}()

	require.NoError(t, fn.Isolate(c.cfgs[old].Name))
	testkit.WaitFor(t, 10*time.Second, func() bool {
		return log.has(func(e leaderEvent) bool { return e.node == old && !e.start })
	}, "the isolated leader's OnLeader context is cancelled")

	var nl int
	testkit.WaitFor(t, 20*time.Second, func() bool {
		nl = c.leader()
		return nl >= 0 && nl != old
	}, "a new leader on the majority side")
	c.apply(ctx, nl, "set:x=2")
	acked := time.Now()
	testkit.WaitFor(t, 10*time.Second, func() bool {
		return log.has(func(e leaderEvent) bool { return e.node == nl && e.start && e.term > oldTerm })
	}, "OnLeader on the new leader with a higher term")

	// Keep reading on the isolated side until several reads began after the ack.
	testkit.WaitFor(t, 20*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, r := range reads {
			if r.start.After(acked) {
				n++
			}
		}
		return n >= 3
	}, "reads on the isolated node after the ack")
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	after := 0
	for _, r := range reads {
		if r.err == nil && r.start.After(acked) {
			require.Equal(t, "2", r.value, "linearizable read on the isolated old leader returned stale data")
		}
		if r.start.After(acked) {
			after++
			require.Error(t, r.err, "the isolated node cannot confirm a read index")
		}
	}
	require.Positive(t, after, "reads were attempted after the ack")

	// After healing the old leader catches up and reads the new value.
	fn.Heal()
	require.NoError(t, c.nodes[old].Read(ctx, Linearizable, func(sm StateMachine) error {
		if v, _ := sm.(*kvFSM).get("x"); v != "2" {
			t.Errorf("healed node read x=%q", v)
		}
		return nil
	}))
}
