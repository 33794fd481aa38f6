package metrics

import (
	"fmt"
	"time"

	gometrics "github.com/hashicorp/go-metrics/compat"
	gmprom "github.com/hashicorp/go-metrics/compat/prometheus"
	"github.com/prometheus/client_golang/prometheus"
)

// BridgeHashicorp routes the metrics hashicorp/raft and memberlist emit
// (raft_*, memberlist_*: commit times, RPC latencies, probe results; see
// their documentation) into reg, and returns a function that stops the
// routing and unregisters them.
//
// hashicorp's libraries emit into go-metrics' process-global sink, so the
// bridge is process-wide, not per node: with several nodes in one process
// their raft and memberlist metrics are mixed into one set (raft's carry no
// node label), and a second call replaces the first (only the last reg gets
// them). Conclave's own metrics (the [Collector]) are per node and are not
// affected. Call it once per process, in main.
func BridgeHashicorp(reg prometheus.Registerer) (stop func(), err error) {
	sink, err := gmprom.NewPrometheusSinkFrom(gmprom.PrometheusOpts{
		Expiration: time.Minute, // forget series (say, a former peer's) unseen for a minute
		Registerer: reg,         // never the global registry
	})
	if err != nil {
		return nil, fmt.Errorf("metrics: go-metrics sink: %w", err)
	}
	cfg := gometrics.DefaultConfig("")
	cfg.EnableHostname = false       // the scrape target names the host
	cfg.EnableRuntimeMetrics = false // it would start a goroutine that never ends
	cfg.EnableServiceLabel = false
	if _, err := gometrics.NewGlobal(cfg, sink); err != nil {
		reg.Unregister(sink)
		return nil, fmt.Errorf("metrics: go-metrics global sink: %w", err)
	}
	return func() {
		_, _ = gometrics.NewGlobal(cfg, &gometrics.BlackholeSink{})
		reg.Unregister(sink)
	}, nil
}
