package clustertest

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/conclave-go/conclave/consensus"
)

// leaderMonitor checks that at most one node leads each term. It learns
// leaders from OnLeader callbacks and from sampling every running server.
type leaderMonitor struct {
	mu         sync.Mutex // guards the fields below
	terms      map[uint64]string
	violations []string
}

func newLeaderMonitor() *leaderMonitor {
	return &leaderMonitor{terms: make(map[uint64]string)}
}

// observe records that name led term, as seen by source.
func (m *leaderMonitor) observe(term uint64, name, source string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	prev, ok := m.terms[term]
	if !ok {
		m.terms[term] = name
		return
	}
	if prev != name {
		m.violations = append(m.violations, fmt.Sprintf("%s: term %d led by %s and by %s (seen by %s)",
			time.Now().Format("15:04:05.000"), term, prev, name, source))
	}
}

// err reports the violations seen so far.
func (m *leaderMonitor) err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.violations) == 0 {
		return nil
	}
	return fmt.Errorf("%w: more than one leader in a term: %s", ErrInvariant, strings.Join(m.violations, "; "))
}

// sample polls every running server until stop is closed.
func (m *leaderMonitor) sample(c *Cluster, stop <-chan struct{}) {
	t := time.NewTicker(c.set.sample)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		for _, s := range c.slots {
			if node, running := c.instance(s); running && s.server {
				m.sampleNode(node.Consensus(), s.name)
			}
		}
	}
}

// sampleNode records the node as leader of a term if it leads. The state is
// read between two reads of the term: when both give the same term, the
// node led at a moment when that was its term (Raft changes its term only
// after leaving the leader state).
func (m *leaderMonitor) sampleNode(cons *consensus.Node, name string) {
	before := cons.Leader()
	if before.Name != name {
		return
	}
	st := cons.Status()
	after := cons.Leader()
	if st.State == consensus.StateLeader && after.Name == name && before.Term == after.Term {
		m.observe(before.Term, name, "sampling")
	}
}

// LeaderTerms returns the terms in which a leader was seen and who led
// each, sorted by term.
func (c *Cluster) LeaderTerms() []TermLeader {
	c.leaders.mu.Lock()
	defer c.leaders.mu.Unlock()
	out := make([]TermLeader, 0, len(c.leaders.terms))
	for term, name := range c.leaders.terms {
		out = append(out, TermLeader{Term: term, Leader: name})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Term < out[j].Term })
	return out
}

// TermLeader is a term and the node that led it.
type TermLeader struct {
	Term   uint64
	Leader string
}

// CheckLeaders returns an [ErrInvariant] error if two nodes were seen
// leading the same term since the cluster started. Close reports it too.
func (c *Cluster) CheckLeaders() error {
	c.rep.Helper()
	return c.check(c.leaders.err())
}
