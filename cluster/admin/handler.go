package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/conclave-go/conclave/cluster"
)

// Options configure a Handler. The zero value is valid.
type Options struct {
	// Authorize, when set, is called before every operation (every POST);
	// an error refuses it with 403 and the error's text. Without it anyone
	// who reaches the handler may transfer leadership, remove servers and
	// download snapshots: then mount it only where trusted networks reach
	// it. The read-only endpoints are not guarded: wrap the handler to
	// guard them too.
	Authorize func(*http.Request) error
	// Events is how many recent events GET events keeps (default 100).
	Events int
	// Timeout bounds each request's work: reading the group state, an
	// operation (default 10s; a snapshot download is bounded by the
	// request's own context only).
	Timeout time.Duration
}

// Snapshotter is what the snapshot operation needs from the node: write a
// snapshot of the state machine to w. The operation answers 501 when the
// node does not implement it.
type Snapshotter interface {
	Snapshot(ctx context.Context, w io.Writer) error
}

// Handler is the operator's http.Handler for one node: JSON status
// endpoints, operations and a status page. Create it with New, mount it
// with http.StripPrefix (it serves paths relative to its mount point), and
// Close it when done.
type Handler struct {
	n       *cluster.Node
	opts    Options
	mux     *http.ServeMux
	events  *eventRing
	snap    Snapshotter // nil when the node cannot stream snapshots
	closeMu sync.Once
}

var _ http.Handler = (*Handler)(nil)

// New returns a handler for n. It subscribes to n's events at once (n may
// be started later), so GET events shows them from now on.
func New(n *cluster.Node, opts Options) *Handler {
	if opts.Events <= 0 {
		opts.Events = 100
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	h := &Handler{n: n, opts: opts, events: newEventRing(n.Subscribe(0), opts.Events)}
	h.snap, _ = any(n).(Snapshotter)
	h.mux = http.NewServeMux()
	h.routes()
	return h
}

// Close stops recording events and waits for the goroutine that does. The
// handler still serves afterwards, with no new events.
func (h *Handler) Close() {
	h.closeMu.Do(h.events.close)
}

func (h *Handler) routes() {
	h.get("/{$}", h.servePage)
	h.get("/members", h.serveMembers)
	h.get("/raft", h.serveRaft)
	h.get("/leader", h.serveLeader)
	h.get("/health", h.serveHealth)
	h.get("/events", h.serveEvents)
	h.post("/ops/transfer-leadership", h.opTransfer)
	h.post("/ops/remove-server", h.opRemoveServer)
	h.post("/ops/force-leave", h.opForceLeave)
	h.post("/ops/snapshot", h.opSnapshot)
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: %q (see the README, \"Operating a cluster\")", r.URL.Path)
	})
}

// get registers a read-only endpoint: GET and HEAD only.
func (h *Handler) get(path string, fn http.HandlerFunc) {
	h.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "%s %s: this endpoint only answers GET", r.Method, r.URL.Path)
			return
		}
		fn(w, r)
	})
}

// post registers an operation: POST only, JSON, authorized.
func (h *Handler) post(path string, fn http.HandlerFunc) {
	h.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			writeError(w, http.StatusMethodNotAllowed, "%s %s: operations only answer POST", r.Method, r.URL.Path)
			return
		}
		if ct := r.Header.Get("Content-Type"); !isJSON(ct) {
			writeError(w, http.StatusUnsupportedMediaType, "operations need Content-Type: application/json, got %q", ct)
			return
		}
		if h.opts.Authorize != nil {
			if err := h.opts.Authorize(r); err != nil {
				writeError(w, http.StatusForbidden, "not authorized: %v", err)
				return
			}
		}
		fn(w, r)
	})
}

func isJSON(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/json")
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "" {
		// Mounted with StripPrefix at "/x/" and asked for "/x": the page's
		// relative links need the trailing slash.
		http.Redirect(w, r, requestPath(r)+"/", http.StatusMovedPermanently)
		return
	}
	if !strings.HasPrefix(r.URL.Path, "/") {
		r2 := *r
		u := *r.URL
		u.Path = "/" + u.Path
		r2.URL = &u
		r = &r2
	}
	h.mux.ServeHTTP(w, r)
}

// requestPath is the path the client asked for, before any StripPrefix.
func requestPath(r *http.Request) string {
	p, _, _ := strings.Cut(r.RequestURI, "?")
	return p
}

func (h *Handler) context(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), h.opts.Timeout)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, ErrorDoc{Error: fmt.Sprintf(format, args...)})
}

// errorStatus maps an error from the node to an HTTP status.
func errorStatus(err error) int {
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, cluster.ErrNoLeader),
		errors.Is(err, cluster.ErrNotStarted), errors.Is(err, cluster.ErrClosed):
		return http.StatusServiceUnavailable
	case errors.Is(err, cluster.ErrNotServer):
		return http.StatusNotImplemented
	}
	return http.StatusInternalServerError
}
