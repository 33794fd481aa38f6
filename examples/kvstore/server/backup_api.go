package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/conclave-go/conclave/cluster"
)

// snapshotter is what backup and restore need from the node.
type snapshotter interface {
	Snapshot(ctx context.Context, w io.Writer) error
	Restore(ctx context.Context, r io.Reader) error
}

// backupRoutes adds GET /cluster/snapshot and POST /cluster/restore when the
// node can serve them.
func (a *api) backupRoutes(mux *http.ServeMux) {
	s, ok := a.node.(snapshotter)
	if !ok {
		return
	}
	route(mux, "/cluster/snapshot", map[string]http.HandlerFunc{http.MethodGet: a.snapshot(s)})
	route(mux, "/cluster/restore", map[string]http.HandlerFunc{http.MethodPost: a.restore(s)})
}

// snapshot serves GET /cluster/snapshot: a consistent backup of the store,
// holding every write acknowledged before the request. An error after the
// first byte aborts the response, which the file's checksum then reveals.
func (a *api) snapshot(s snapshotter) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Time{}) // as long as the copy takes
		cw := &countingWriter{w: w, header: func() {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Disposition", `attachment; filename="kvstore.snap"`)
		}}
		err := s.Snapshot(r.Context(), cw)
		switch {
		case err == nil:
		case cw.n > 0:
			a.logger.Warn("snapshot download failed midway", "error", err)
			panic(http.ErrAbortHandler)
		default:
			writeError(w, http.StatusServiceUnavailable, "snapshot: "+err.Error())
		}
	}
}

// restore serves POST /cluster/restore: the body, a backup from GET
// /cluster/snapshot, replaces the state of the whole cluster. Any server
// takes it: a follower forwards it to the leader.
func (a *api) restore(s snapshotter) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Time{}) // as long as the upload takes
		_ = rc.SetWriteDeadline(time.Time{})
		err := s.Restore(r.Context(), r.Body)
		switch {
		case err == nil:
			w.WriteHeader(http.StatusNoContent)
		case errors.Is(err, cluster.ErrBadSnapshot):
			writeError(w, http.StatusBadRequest, err.Error())
		case errors.Is(err, cluster.ErrNotLeader), errors.Is(err, cluster.ErrNoLeader):
			// Nothing changed: the leader changed, or none is known.
			w.Header().Set("Retry-After", retryAfter)
			writeError(w, http.StatusServiceUnavailable, err.Error()+": send the backup again")
		case errors.Is(err, cluster.ErrOutcomeUnknown):
			writeError(w, http.StatusGatewayTimeout, err.Error()+": read the data before sending the backup again")
		default:
			writeError(w, http.StatusInternalServerError, "restore: "+err.Error())
		}
	}
}

// countingWriter counts bytes written and sets the headers before the first.
type countingWriter struct {
	w      io.Writer
	header func()
	n      int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.n == 0 && c.header != nil {
		c.header()
		c.header = nil
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
