package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/conclave-go/conclave/cluster"
	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/membership"
)

// maxBody bounds an operation's request body.
const maxBody = 64 << 10

// maxName bounds a node name in a request.
const maxName = 256

// TransferRequest is the body of POST ops/transfer-leadership. An empty To
// (or an empty body) lets the leader pick the most up-to-date voter.
type TransferRequest struct {
	To string `json:"to"`
}

// ServerRequest is the body of POST ops/remove-server and ops/force-leave.
type ServerRequest struct {
	Name string `json:"name"`
}

// decode reads the JSON body into v. An empty body leaves v as it is when
// emptyOK. It answers the error itself and returns false on a bad body.
func decode(w http.ResponseWriter, r *http.Request, v any, emptyOK bool) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	switch {
	case errors.Is(err, io.EOF) && emptyOK:
		return true
	case errors.Is(err, io.EOF):
		writeError(w, http.StatusBadRequest, "empty body: want a JSON object")
		return false
	case err != nil:
		writeError(w, http.StatusBadRequest, "bad JSON body: %v", err)
		return false
	case dec.More():
		writeError(w, http.StatusBadRequest, "bad JSON body: more than one value")
		return false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "bad JSON body: data after the object")
		return false
	}
	return true
}

// checkName validates a node name given as field.
func checkName(w http.ResponseWriter, field, name string, required bool) bool {
	switch {
	case name == "" && required:
		writeError(w, http.StatusBadRequest, "field %q is required: the name of a node", field)
	case len(name) > maxName:
		writeError(w, http.StatusBadRequest, "field %q: a name of %d bytes, at most %d allowed", field, len(name), maxName)
	default:
		return true
	}
	return false
}

// raftView returns the node's consensus node and its Health for op, an
// operation on the Raft configuration, answering the error itself when it
// cannot: the node is a client, or Health cannot be read.
func (h *Handler) raftView(ctx context.Context, w http.ResponseWriter, op string) (*consensus.Node, cluster.Health, bool) {
	c := h.n.Consensus()
	if c == nil {
		writeError(w, http.StatusNotImplemented, "node %s is a client: it has no Raft seat; send this to a server", h.n.Name())
		return nil, cluster.Health{}, false
	}
	hl, err := h.n.Health(ctx)
	if err != nil {
		writeError(w, errorStatus(err), "%s: %v", op, err)
		return nil, cluster.Health{}, false
	}
	return c, hl, true
}

func (h *Handler) opTransfer(w http.ResponseWriter, r *http.Request) {
	var req TransferRequest
	if !decode(w, r, &req, true) || !checkName(w, "to", req.To, false) {
		return
	}
	ctx, cancel := h.context(r)
	defer cancel()
	c, hl, ok := h.raftView(ctx, w, "transfer leadership")
	if !ok {
		return
	}
	var err error
	if req.To != "" {
		s, ok := findServer(hl, req.To)
		switch {
		case !ok:
			writeError(w, http.StatusNotFound, "transfer leadership: no server %q in the Raft configuration", req.To)
			return
		case s.Suffrage != consensus.Voter:
			writeError(w, http.StatusConflict, "transfer leadership: %q is a non-voter; only a voter can lead", req.To)
			return
		case s.Name == hl.Leader.Name:
			writeError(w, http.StatusConflict, "transfer leadership: %q already leads (term %d)", req.To, hl.Leader.Term)
			return
		}
		err = c.LeadershipTransferTo(ctx, req.To)
	} else {
		if hl.Voters < 2 {
			writeError(w, http.StatusConflict, "transfer leadership: the group has %d voter(s): no other voter can take over", hl.Voters)
			return
		}
		err = c.LeadershipTransfer(ctx)
	}
	if err != nil {
		writeError(w, opStatus(err), "transfer leadership: %v", err)
		return
	}
	writeJSON(w, http.StatusOK, OpDoc{Node: h.n.Name(), Result: "leadership transferred"})
}

func findServer(hl cluster.Health, name string) (cluster.ServerHealth, bool) {
	for _, s := range hl.Servers {
		if s.Name == name {
			return s, true
		}
	}
	return cluster.ServerHealth{}, false
}

// quorumLoss says why removing s from the group hl describes would leave it
// without a healthy quorum, or "" when it would not.
func quorumLoss(hl cluster.Health, s cluster.ServerHealth) string {
	if s.Suffrage != consensus.Voter {
		return ""
	}
	voters, healthy := hl.Voters-1, hl.HealthyVoters
	if s.Healthy {
		healthy--
	}
	if voters == 0 {
		return fmt.Sprintf("%q is the last voter", s.Name)
	}
	if need := voters/2 + 1; healthy < need {
		return fmt.Sprintf("without %q the group would have %d voters, %d of them healthy: a quorum needs %d",
			s.Name, voters, healthy, need)
	}
	return ""
}

func (h *Handler) opRemoveServer(w http.ResponseWriter, r *http.Request) {
	var req ServerRequest
	if !decode(w, r, &req, false) || !checkName(w, "name", req.Name, true) {
		return
	}
	ctx, cancel := h.context(r)
	defer cancel()
	c, hl, ok := h.raftView(ctx, w, "remove server")
	if !ok {
		return
	}
	s, ok := findServer(hl, req.Name)
	if !ok {
		writeError(w, http.StatusNotFound, "remove server: no server %q in the Raft configuration", req.Name)
		return
	}
	if why := quorumLoss(hl, s); why != "" {
		writeError(w, http.StatusConflict, "remove server: refused, it would lose the quorum: %s", why)
		return
	}
	if s.Gossip == membership.StatusAlive {
		writeError(w, http.StatusConflict, "remove server: refused, %q is alive in gossip and the reconciler would add it back: "+
			"stop it, or have it leave, first", req.Name)
		return
	}
	if err := c.RemoveServer(ctx, req.Name); err != nil {
		writeError(w, opStatus(err), "remove server %q: %v", req.Name, err)
		return
	}
	writeJSON(w, http.StatusOK, OpDoc{Node: h.n.Name(), Result: fmt.Sprintf("server %s removed from the Raft configuration", req.Name)})
}

func (h *Handler) opForceLeave(w http.ResponseWriter, r *http.Request) {
	var req ServerRequest
	if !decode(w, r, &req, false) || !checkName(w, "name", req.Name, true) {
		return
	}
	m := h.n.Membership()
	if m == nil {
		writeError(w, http.StatusServiceUnavailable, "force leave: node %s is not started", h.n.Name())
		return
	}
	err := m.ForceLeave(req.Name, false)
	switch {
	case errors.Is(err, membership.ErrUnknownMember):
		writeError(w, http.StatusNotFound, "force leave: %v", err)
	case errors.Is(err, membership.ErrNotFailed):
		writeError(w, http.StatusConflict, "force leave: %v (only a failed member can be forced out)", err)
	case err != nil:
		writeError(w, errorStatus(err), "force leave: %v", err)
	default:
		writeJSON(w, http.StatusOK, OpDoc{Node: h.n.Name(), Result: fmt.Sprintf("member %s marked left on every member", req.Name)})
	}
}

func (h *Handler) opSnapshot(w http.ResponseWriter, r *http.Request) {
	if !decode(w, r, &struct{}{}, true) {
		return
	}
	snap := h.snap
	if snap == nil {
		writeError(w, http.StatusNotImplemented, "snapshot: node %s cannot stream a snapshot (this build's cluster.Node has no Snapshot method)", h.n.Name())
		return
	}
	name := fmt.Sprintf("%s-%s.snap", h.n.Name(), time.Now().UTC().Format("20060102T150405Z"))
	sw := &snapshotWriter{w: w, name: name}
	if err := snap.Snapshot(r.Context(), sw); err != nil {
		if !sw.started {
			writeError(w, opStatus(err), "snapshot: %v", err)
			return
		}
		// The status line is gone: break the connection so the client
		// cannot mistake a truncated download for a whole one.
		panic(http.ErrAbortHandler)
	}
	if !sw.started {
		sw.start()
	}
}

// snapshotWriter sends the download headers before the first byte.
type snapshotWriter struct {
	w       http.ResponseWriter
	name    string
	started bool
}

func (s *snapshotWriter) start() {
	s.started = true
	s.w.Header().Set("Content-Type", "application/octet-stream")
	s.w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", s.name))
	s.w.WriteHeader(http.StatusOK)
}

func (s *snapshotWriter) Write(p []byte) (int, error) {
	if !s.started {
		s.start()
	}
	return s.w.Write(p)
}

// opStatus maps an operation's error to an HTTP status.
func opStatus(err error) int {
	switch {
	case errors.Is(err, consensus.ErrUnknownServer):
		return http.StatusNotFound
	case errors.Is(err, cluster.ErrOutcomeUnknown):
		return http.StatusGatewayTimeout
	}
	return errorStatus(err)
}
