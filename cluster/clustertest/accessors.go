package clustertest

import (
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"time"

	"github.com/conclave-go/conclave/cluster"
	"github.com/conclave-go/conclave/consensus"
)

// Len returns the number of nodes.
func (c *Cluster) Len() int { return len(c.slots) }

// Name returns node i's name, "node-<i>".
func (c *Cluster) Name(i int) string {
	c.rep.Helper()
	s, err := c.slot(i)
	if c.check(err) != nil {
		return ""
	}
	return s.name
}

// Index returns the index of the node called name, or -1.
func (c *Cluster) Index(name string) int {
	for _, s := range c.slots {
		if s.name == name {
			return s.index
		}
	}
	return -1
}

// Node returns the current instance of node i. After Kill or Stop it is the
// closed instance (its calls fail with cluster.ErrClosed); after Restart,
// the new one.
func (c *Cluster) Node(i int) *cluster.Node {
	c.rep.Helper()
	s, err := c.slot(i)
	if c.check(err) != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return s.node
}

// Nodes returns the current instance of every node, by index.
func (c *Cluster) Nodes() []*cluster.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*cluster.Node, len(c.slots))
	for i, s := range c.slots {
		out[i] = s.node
	}
	return out
}

// StateMachine returns the state machine of node i's current instance (a
// [*KV] unless [WithStateMachine] says otherwise); nil on a client.
func (c *Cluster) StateMachine(i int) consensus.StateMachine {
	c.rep.Helper()
	s, err := c.slot(i)
	if c.check(err) != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return s.sm
}

// IsServer reports whether node i is a server.
func (c *Cluster) IsServer(i int) bool {
	s, err := c.slot(i)
	return err == nil && s.server
}

// Running reports whether node i is up: started and neither killed nor
// stopped since. A paused or partitioned node is running.
func (c *Cluster) Running(i int) bool {
	s, err := c.slot(i)
	if err != nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return s.running
}

// Servers returns the indexes of the servers.
func (c *Cluster) Servers() []int {
	out := make([]int, c.servers)
	for i := range out {
		out[i] = i
	}
	return out
}

// Except returns every index but the given ones, in order: handy for
// Partition(c.Except(i), []int{i}).
func (c *Cluster) Except(idx ...int) []int {
	var out []int
	for i := range c.slots {
		skip := false
		for _, x := range idx {
			skip = skip || x == i
		}
		if !skip {
			out = append(out, i)
		}
	}
	return out
}

// Seed returns the seed of the fault network and of [Cluster.Rand].
func (c *Cluster) Seed() int64 { return c.set.seed }

// Rand returns the cluster's random source, seeded by [Cluster.Seed], for
// seeded fault schedules: the same seed gives the same sequence. Like every
// *rand.Rand it is not safe for concurrent use.
func (c *Cluster) Rand() *mathrand.Rand {
	return c.rng
}

// Faults returns every fault injected so far, in order.
func (c *Cluster) Faults() []Fault {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Fault(nil), c.faults...)
}

func (c *Cluster) slot(i int) (*slot, error) {
	if i < 0 || i >= len(c.slots) {
		return nil, fmt.Errorf("%w: %d, cluster has %d nodes", ErrBadIndex, i, len(c.slots))
	}
	return c.slots[i], nil
}

// check fails the test on err in a cluster built by New, and returns err.
func (c *Cluster) check(err error) error {
	c.rep.Helper()
	if err != nil && c.tb != nil {
		c.tb.Fatalf("clustertest: %v", err)
	}
	return err
}

// reporter is the part of testing.TB the harness calls on every path. A
// call through it marks the caller as a helper, so log lines and failures
// point at the test's own line.
type reporter interface {
	Helper()
}

type nopReporter struct{}

func (nopReporter) Helper() {}

// logf logs a line of the harness with the wall clock and the time since
// the cluster was built.
func (c *Cluster) logf(format string, args ...any) {
	c.rep.Helper()
	msg := fmt.Sprintf(format, args...)
	now := time.Now()
	if c.tb != nil {
		c.tb.Logf("clustertest: %s +%.3fs %s", now.Format("15:04:05.000"), now.Sub(c.begin).Seconds(), msg)
	}
	if c.set.logger != nil {
		c.set.logger.Info(msg, slog.String("component", "clustertest"), slog.Duration("elapsed", now.Sub(c.begin)))
	}
}

// recordFault logs a fault and keeps it for Faults.
func (c *Cluster) recordFault(format string, args ...any) {
	c.rep.Helper()
	f := Fault{Time: time.Now(), What: fmt.Sprintf(format, args...)}
	c.mu.Lock()
	c.faults = append(c.faults, f)
	c.mu.Unlock()
	c.logf("%s", f.What)
}
