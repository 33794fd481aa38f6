package cluster

import "sync/atomic"

// Stats are counters a Node keeps from New on, for an exporter such as
// cluster/metrics. Gauges come from [Node.Health], [Node.Members] and the
// consensus node's Status.
type Stats struct {
	// ReconcileChanges counts the Raft configuration changes this server's
	// reconciler made as leader, by kind: "add-nonvoter", "promote",
	// "demote", "remove" and "update-address". ReconcileFailures counts
	// changes it attempted that failed.
	ReconcileChanges  map[string]uint64
	ReconcileFailures uint64
}

// ReconcileKinds lists the kinds of [Stats].ReconcileChanges.
var ReconcileKinds = []string{"add-nonvoter", "promote", "demote", "remove", "update-address"}

// reconcileCounts holds what Stats reads.
type reconcileCounts struct {
	changes  [opUpdateAddr + 1]atomic.Uint64
	failures atomic.Uint64
}

func (c *reconcileCounts) done(op changeOp, err error) {
	if err != nil {
		c.failures.Add(1)
		return
	}
	if int(op) < len(c.changes) {
		c.changes[op].Add(1)
	}
}

// Stats returns the node's counters. It may be called at any time.
func (n *Node) Stats() Stats {
	s := Stats{ReconcileChanges: make(map[string]uint64, len(n.counts.changes))}
	for op := range n.counts.changes {
		s.ReconcileChanges[changeOp(op).String()] = n.counts.changes[op].Load()
	}
	s.ReconcileFailures = n.counts.failures.Load()
	return s
}
