// Package metrics exports a Conclave node's metrics to Prometheus.
//
// [NewCollector] returns a prometheus.Collector for one node: register it
// with the host's own registry, never the global one, so that several nodes
// in one process stay apart (each series carries a node label).
// [BridgeHashicorp] additionally routes the metrics hashicorp/raft and
// memberlist emit through go-metrics into a registry; their sink is
// process-global, so that bridge is once per process.
//
// # Usage
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(metrics.NewCollector(node))
//	stop, err := metrics.BridgeHashicorp(reg) // optional, once per process
//	...
//	defer stop()
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// The collector reads counters the node keeps anyway ([consensus.Node.Metrics],
// [membership.Membership.Stats], [cluster.Node.Stats], [cluster.Node.Health])
// at scrape time; it adds no cost between scrapes. The metric names, their
// meaning and what to alert on are listed in the README, "Operating a
// cluster".
package metrics
