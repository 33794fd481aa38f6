package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/conclave-go/conclave/cluster"
	"github.com/conclave-go/conclave/consensus"
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
// /cluster/snapshot, replaces the state of the whole cluster. A follower
// redirects to the leader (307: the client sends the body again there).
func (a *api) restore(s snapshotter) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Time{})
		_ = rc.SetWriteDeadline(time.Time{})
		err := s.Restore(r.Context(), r.Body)
		var nle *consensus.NotLeaderError
		switch {
		case err == nil:
			w.WriteHeader(http.StatusNoContent)
		case errors.Is(err, cluster.ErrBadSnapshot):
			writeError(w, http.StatusBadRequest, err.Error())
		case errors.As(err, &nle) && nle.LeaderName != "":
			if addr := a.httpAddrOf(nle.LeaderName); addr != "" {
				http.Redirect(w, r, "http://"+addr+"/cluster/restore", http.StatusTemporaryRedirect)
				return
			}
			writeError(w, http.StatusServiceUnavailable, "not the leader, and the leader's HTTP address is unknown: "+err.Error())
		default:
			w.Header().Set("Retry-After", retryAfter)
			writeError(w, http.StatusServiceUnavailable, "restore: "+err.Error())
		}
	}
}

// httpAddrOf returns the HTTP address member name advertises, with its
// gossip host when it listens on all interfaces.
func (a *api) httpAddrOf(name string) string {
	for _, m := range a.node.Members() {
		if m.Name != name || m.Tags[httpTag] == "" {
			continue
		}
		host, port, err := net.SplitHostPort(m.Tags[httpTag])
		if err != nil {
			return ""
		}
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			host, _, _ = net.SplitHostPort(m.Address())
		}
		return net.JoinHostPort(host, port)
	}
	return ""
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
