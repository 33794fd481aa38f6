package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/conclave-go/conclave/cluster"
	"github.com/conclave-go/conclave/cluster/metrics"
)

// scrapeMetrics registers a collector for every node in one registry, as a
// host would, and gathers and encodes it every interval, as a Prometheus
// server would, until stop is called.
func scrapeMetrics(nodes []*cluster.Node, interval time.Duration) (stop func(), err error) {
	reg := prometheus.NewRegistry()
	for _, n := range nodes {
		if err := reg.Register(metrics.NewCollector(n)); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				mfs, _ := reg.Gather()
				enc := expfmt.NewEncoder(io.Discard, expfmt.NewFormat(expfmt.TypeTextPlain))
				for _, mf := range mfs {
					_ = enc.Encode(mf)
				}
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}, nil
}
