package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/conclave-go/conclave/cluster"
	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/membership"
)

// healthWait bounds how long a scrape waits for a server's first group
// state; later scrapes never wait.
const healthWait = 100 * time.Millisecond

// Collector is a [prometheus.Collector] for one node. Register it with the
// host's registry (never the global one when several nodes share a
// process); every metric carries a node label with the node's name. It reads
// the node's counters and status at scrape time and holds no state of its
// own, so it costs nothing between scrapes.
type Collector struct {
	n     *cluster.Node
	descs descs
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a collector for n. n may be started later; before
// Start, and on a client, it reports what exists.
func NewCollector(n *cluster.Node) *Collector {
	return &Collector{n: n, descs: newDescs(prometheus.Labels{"node": n.Name()})}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs.all() {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.collectMembership(ch)
	cons := c.n.Consensus()
	if cons == nil {
		return
	}
	c.collectConsensus(ch, cons)
	c.collectCluster(ch, cons)
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v uint64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func histogram(ch chan<- prometheus.Metric, d *prometheus.Desc, h consensus.Histogram, labels ...string) {
	buckets := make(map[float64]uint64, len(h.Buckets))
	for _, b := range h.Buckets {
		buckets[b.UpperBound] = b.Count
	}
	ch <- prometheus.MustNewConstHistogram(d, h.Count, h.Sum, buckets, labels...)
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *Collector) collectMembership(ch chan<- prometheus.Metric) {
	d := &c.descs
	counts := make(map[membership.Status]int, len(memberStatuses))
	for _, m := range c.n.Members() {
		counts[m.Status]++
	}
	for _, s := range memberStatuses {
		gauge(ch, d.members, float64(counts[s]), s.String())
	}
	m := c.n.Membership()
	if m == nil {
		return
	}
	st := m.Stats()
	for _, t := range eventTypes {
		counter(ch, d.memberEvents, st.Events[t], t.String())
	}
	counter(ch, d.eventsDropped, st.EventsDropped)
	gauge(ch, d.subscriptions, float64(st.Subscriptions))
	counter(ch, d.rejoins, st.RejoinAttempts)
	counter(ch, d.reconnects, st.ReconnectAttempts)
	gauge(ch, d.metaBytes, float64(st.MetadataSize))
	gauge(ch, d.streams, float64(st.Streams))
	gauge(ch, d.streamLimit, float64(st.MaxStreams), "total")
	gauge(ch, d.streamLimit, float64(st.MaxStreamsPerIP), "per_ip")
	counter(ch, d.streamsRefused, st.StreamsRefused)
}

func (c *Collector) collectConsensus(ch chan<- prometheus.Metric, cons *consensus.Node) {
	d := &c.descs
	s := cons.Status()
	gauge(ch, d.term, float64(s.Term))
	gauge(ch, d.commitIndex, float64(s.CommitIndex))
	gauge(ch, d.appliedIndex, float64(s.AppliedIndex))
	gauge(ch, d.lastLogIndex, float64(s.LastLogIndex))
	if s.LastContact >= 0 {
		gauge(ch, d.lastContact, s.LastContact.Seconds())
	}
	gauge(ch, d.isLeader, boolFloat(s.State == consensus.StateLeader))
	m := cons.Metrics()
	counter(ch, d.leaderChanges, m.LeaderChanges)
	histogram(ch, d.apply, m.Apply)
	histogram(ch, d.fwdApply, m.ForwardedApply)
	for _, level := range consensus.ReadLevels {
		histogram(ch, d.read, m.Read[level], level.String())
	}
	histogram(ch, d.fwdBatch, m.ForwardBatchSize)
	counter(ch, d.outcomeUnknown, m.OutcomeUnknown)
	counter(ch, d.noLeader, m.NoLeader)
	counter(ch, d.snapshots, m.Snapshots)
	counter(ch, d.snapshotFailures, m.SnapshotFailures)
	histogram(ch, d.snapshotDuration, m.SnapshotDuration)
	gauge(ch, d.snapshotBytes, float64(m.LastSnapshotSize))
	cs := cons.ConnStats()
	gauge(ch, d.portConns, float64(cs.Open))
	gauge(ch, d.portLimit, float64(cs.MaxConns), "total")
	gauge(ch, d.portLimit, float64(cs.MaxConnsPerIP), "per_ip")
	counter(ch, d.portRefused, cs.Refused)
	counter(ch, d.portEvicted, cs.Evicted)
	counter(ch, d.portIdleClosed, cs.IdleClosed)
	bootstrap := "waiting"
	if s.HasState {
		bootstrap = "done"
	}
	c.bootstrapState(ch, bootstrap)
}

func (c *Collector) bootstrapState(ch chan<- prometheus.Metric, state string) {
	ctx, cancel := context.WithTimeout(context.Background(), healthWait)
	defer cancel()
	if state != "done" {
		if h, err := c.n.Health(ctx); err == nil && h.BootstrapError != "" {
			state = "blocked"
		}
	}
	for _, s := range bootstrapStates {
		gauge(ch, c.descs.bootstrap, boolFloat(s == state), s)
	}
}

func (c *Collector) collectCluster(ch chan<- prometheus.Metric, _ *consensus.Node) {
	d := &c.descs
	st := c.n.Stats()
	for _, k := range cluster.ReconcileKinds {
		counter(ch, d.reconcileChanges, st.ReconcileChanges[k], k)
	}
	counter(ch, d.reconcileFailures, st.ReconcileFailures)
	ctx, cancel := context.WithTimeout(context.Background(), healthWait)
	defer cancel()
	h, err := c.n.Health(ctx)
	if err != nil {
		return // no group state yet: the gauges are absent rather than wrong
	}
	gauge(ch, d.voters, float64(h.Voters))
	gauge(ch, d.healthyVoters, float64(h.HealthyVoters))
	gauge(ch, d.nonVoters, float64(len(h.Servers)-h.Voters))
	gauge(ch, d.failureTolerance, float64(h.FailureTolerance))
	gauge(ch, d.healthAge, h.Age.Seconds())
}
