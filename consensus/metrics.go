package consensus

import (
	"errors"
	"io"
	"sync/atomic"
	"time"

	"github.com/conclave-go/conclave/internal/stats"
)

// Histogram is a latency or size histogram at one moment: cumulative bucket
// counts, the number of observations and their sum (seconds for latencies).
type Histogram = stats.HistogramSnapshot

// Bucket is one cumulative bucket of a [Histogram].
type Bucket = stats.Bucket

// Metrics are the counters and histograms a node keeps from New on, for an
// exporter such as cluster/metrics. Keeping them costs a few atomic adds per
// call; reading them copies the counts. Gauges (term, indexes, last contact)
// are in [Status].
type Metrics struct {
	// Apply is the latency of Apply calls this node served itself as the
	// leader, ForwardedApply of those it forwarded to the leader; both
	// count every call, successful or not, from start to return.
	Apply          Histogram
	ForwardedApply Histogram
	// Read is the latency of Read and Query calls by read level.
	Read map[ReadLevel]Histogram
	// ForwardBatchSize is how many commands each forwarded batch carried.
	ForwardBatchSize Histogram
	// OutcomeUnknown and NoLeader count Apply, Read and Query calls that
	// ended with ErrOutcomeUnknown and ErrNoLeader.
	OutcomeUnknown uint64
	NoLeader       uint64
	// LeaderChanges counts the leaders this node has observed taking
	// office (a new leader, or the same one in a new term).
	LeaderChanges uint64
	// Snapshots counts state machine snapshots written, SnapshotFailures
	// those that failed, SnapshotDuration how long writing each took and
	// LastSnapshotSize the size in bytes of the latest one written.
	Snapshots        uint64
	SnapshotFailures uint64
	SnapshotDuration Histogram
	LastSnapshotSize uint64
}

// ReadLevels lists the read levels, in order.
var ReadLevels = []ReadLevel{Linearizable, Leader, Stale}

// nodeMetrics holds what Metrics reads. Every field is safe for concurrent
// use.
type nodeMetrics struct {
	apply, fwdApply *stats.Histogram
	read            [3]*stats.Histogram // by ReadLevel
	fwdBatch        *stats.Histogram
	outcomeUnknown  atomic.Uint64
	noLeader        atomic.Uint64
	leaderChanges   atomic.Uint64
	lastLeaderTerm  atomic.Uint64
}

func newNodeMetrics() *nodeMetrics {
	m := &nodeMetrics{
		apply:    stats.NewHistogram(stats.LatencyBounds),
		fwdApply: stats.NewHistogram(stats.LatencyBounds),
		fwdBatch: stats.NewHistogram(stats.SizeBounds),
	}
	for i := range m.read {
		m.read[i] = stats.NewHistogram(stats.LatencyBounds)
	}
	return m
}

// applied records one Apply call.
func (m *nodeMetrics) applied(start time.Time, forwarded bool, err error) {
	h := m.apply
	if forwarded {
		h = m.fwdApply
	}
	h.ObserveDuration(time.Since(start))
	m.countError(err)
}

// readDone records one Read or Query call.
func (m *nodeMetrics) readDone(start time.Time, level ReadLevel, err error) {
	if int(level) < len(m.read) {
		m.read[level].ObserveDuration(time.Since(start))
	}
	m.countError(err)
}

func (m *nodeMetrics) countError(err error) {
	switch {
	case err == nil:
	case errors.Is(err, ErrOutcomeUnknown):
		m.outcomeUnknown.Add(1)
	case errors.Is(err, ErrNoLeader):
		m.noLeader.Add(1)
	}
}

// leaderSeen counts a leader observation naming a leader in a term not
// counted yet.
func (m *nodeMetrics) leaderSeen(info LeaderInfo) {
	if info.Name == "" {
		return
	}
	for {
		last := m.lastLeaderTerm.Load()
		if info.Term <= last && last != 0 {
			return
		}
		if m.lastLeaderTerm.CompareAndSwap(last, info.Term) {
			m.leaderChanges.Add(1)
			return
		}
	}
}

// Metrics returns the node's counters and histograms. It may be called at any
// time, before Start and after Close included.
func (n *Node) Metrics() Metrics {
	m := n.met
	out := Metrics{
		Apply:            m.apply.Snapshot(),
		ForwardedApply:   m.fwdApply.Snapshot(),
		Read:             make(map[ReadLevel]Histogram, len(m.read)),
		ForwardBatchSize: m.fwdBatch.Snapshot(),
		OutcomeUnknown:   m.outcomeUnknown.Load(),
		NoLeader:         m.noLeader.Load(),
		LeaderChanges:    m.leaderChanges.Load(),
		Snapshots:        n.fsm.snapshots.Load(),
		SnapshotFailures: n.fsm.snapshotFailures.Load(),
		SnapshotDuration: n.fsm.snapshotDur.Snapshot(),
		LastSnapshotSize: n.fsm.snapshotSize.Load(),
	}
	for i, h := range m.read {
		out.Read[ReadLevel(i)] = h.Snapshot()
	}
	return out
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n uint64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += uint64(n)
	return n, err
}
