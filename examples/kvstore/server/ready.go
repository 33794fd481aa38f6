package server

import "net/http"

// ready serves GET /readyz: 200 while the node is ready (it knows a leader
// and its state machine caught up after start: cluster.Node.Ready), 503
// otherwise.
func (a *api) ready(w http.ResponseWriter, _ *http.Request) {
	if !a.node.Ready() {
		writeError(w, http.StatusServiceUnavailable, "not ready: no leader known, or the state machine has not caught up since start")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
