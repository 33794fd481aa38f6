package admin_test

import (
	"errors"
	"log"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/conclave-go/conclave/cluster"
	"github.com/conclave-go/conclave/cluster/admin"
	"github.com/conclave-go/conclave/cluster/metrics"
)

// A service mounts the admin handler under /cluster/ and serves its node's
// metrics at /metrics (README, "Operating a cluster"). It compiles but does
// not run: it would serve forever.
func Example() {
	var node *cluster.Node // started elsewhere
	checkBearerToken := func(r *http.Request) error {
		if r.Header.Get("Authorization") != "Bearer secret" {
			return errors.New("bad or missing bearer token")
		}
		return nil
	}
	mux := http.NewServeMux()
	h := admin.New(node, admin.Options{Authorize: checkBearerToken})
	defer h.Close()
	mux.Handle("/cluster/", http.StripPrefix("/cluster", h))

	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewCollector(node))
	stop, err := metrics.BridgeHashicorp(reg) // once per process
	if err != nil {
		log.Fatal(err)
	}
	defer stop()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", mux))
}
