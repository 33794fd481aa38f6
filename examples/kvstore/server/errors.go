package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/conclave-go/conclave/cluster"
)

// errorBody is the JSON body of every error response.
type errorBody struct {
	Error string `json:"error"`
	Op    *int   `json:"op,omitempty"` // POST /batch: the index of the bad operation
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Header values shared by every response that sends them; net/http only
// reads them.
var (
	octetStream = []string{"application/octet-stream"}
	jsonType    = []string{"application/json"}
)

// notFoundBody is the body of the commonest error, prepared once.
var notFoundBody = mustJSON(errorBody{Error: "key not found"})

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

// writeStatic answers status with a short JSON body prepared in advance
// (net/http sets its Content-Length).
func writeStatic(w http.ResponseWriter, status int, body []byte) {
	w.Header()["Content-Type"] = jsonType
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfter)
	}
	writeJSON(w, status, errorBody{Error: msg})
}

// fail answers a request the cluster could not serve. For a write, a
// failure that may have happened after the command reached a leader is
// reported as 504 "outcome unknown", never as a plain error: the client must
// read back before it assumes the write was lost.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error, isWrite bool) {
	status, msg := classify(err, isWrite)
	if status >= 500 && status != http.StatusServiceUnavailable {
		a.logger.Warn("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
	writeError(w, status, msg)
}

// classify maps an error from Apply or Query to a status and message.
func classify(err error, isWrite bool) (int, string) {
	switch {
	case errors.Is(err, cluster.ErrOutcomeUnknown):
		return http.StatusGatewayTimeout, "outcome unknown: the write may or may not have been applied; read the key before retrying: " + err.Error()
	case errors.Is(err, cluster.ErrNoLeader), errors.Is(err, cluster.ErrNoServers):
		return http.StatusServiceUnavailable, "no leader reachable within the request timeout: " + err.Error()
	case errors.Is(err, cluster.ErrStale):
		return http.StatusServiceUnavailable, err.Error()
	case errors.Is(err, cluster.ErrClosed), errors.Is(err, cluster.ErrNotStarted):
		return http.StatusServiceUnavailable, "node is not running: " + err.Error()
	case errors.Is(err, cluster.ErrTooLarge):
		return http.StatusRequestEntityTooLarge, err.Error()
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		if isWrite {
			return http.StatusGatewayTimeout, "outcome unknown: the request timed out; read the key before retrying: " + err.Error()
		}
		return http.StatusServiceUnavailable, "request timed out: " + err.Error()
	}
	return http.StatusInternalServerError, err.Error()
}
