package server

import (
	"fmt"
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/conclave-go/conclave/cluster"
	"github.com/conclave-go/conclave/cluster/admin"
	"github.com/conclave-go/conclave/cluster/metrics"
)

// operator holds the operator's endpoints: the admin handler at /cluster/,
// the metrics at /metrics, and the profiles at /debug/pprof/ when enabled.
type operator struct {
	admin      *admin.Handler
	stopBridge func()
}

// withOperator adds the operator's endpoints to the API's router mux.
// The process's registry gets the node's collector, Go's runtime and
// process collectors, and raft's and memberlist's own metrics (a
// process-wide bridge: the kvstore runs one node per process).
func withOperator(mux *http.ServeMux, node *cluster.Node, withPprof bool) (http.Handler, *operator, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(metrics.NewCollector(node)); err != nil {
		return nil, nil, fmt.Errorf("metrics: %w", err)
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	stop, err := metrics.BridgeHashicorp(reg)
	if err != nil {
		return nil, nil, err
	}
	op := &operator{admin: admin.New(node, admin.Options{}), stopBridge: stop}
	// The kvstore's own /cluster/snapshot and /cluster/restore
	// (backup_api.go), more specific, stay plain HTTP for curl, beside the
	// handler's POST ops/snapshot.
	mux.Handle("/cluster/", http.StripPrefix("/cluster", op.admin))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux, op, nil
}

// close stops the event recording and the metrics bridge.
func (o *operator) close() {
	o.admin.Close()
	o.stopBridge()
}
