package admin

import (
	"net/http"
	"time"

	"github.com/conclave-go/conclave/consensus"
)

func (h *Handler) serveMembers(w http.ResponseWriter, _ *http.Request) {
	doc := MembersDoc{Node: h.n.Name(), Time: time.Now().UTC(), Members: []MemberDoc{}}
	for _, m := range h.n.Members() {
		doc.Members = append(doc.Members, memberDoc(m))
	}
	writeJSON(w, http.StatusOK, doc)
}

func (h *Handler) serveRaft(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := h.context(r)
	defer cancel()
	hl, err := h.n.Health(ctx)
	if err != nil {
		writeError(w, errorStatus(err), "raft configuration: %v", err)
		return
	}
	doc := RaftDoc{
		Node:        h.n.Name(),
		Time:        time.Now().UTC(),
		Leader:      leaderDoc(hl.Leader),
		CommitIndex: hl.CommitIndex,
		Servers:     []ServerDoc{},
		AgeSeconds:  hl.Age.Seconds(),
	}
	for _, s := range hl.Servers {
		doc.Servers = append(doc.Servers, serverDoc(s, hl.Leader.Name))
	}
	writeJSON(w, http.StatusOK, doc)
}

func (h *Handler) serveLeader(w http.ResponseWriter, _ *http.Request) {
	doc := LeaderAnswer{Node: h.n.Name(), Time: time.Now().UTC(), Leader: leaderDoc(h.n.Leader())}
	if c := h.n.Consensus(); c != nil {
		s := c.Status()
		doc.Term = s.Term
		doc.IsLeader = s.State == consensus.StateLeader
	}
	writeJSON(w, http.StatusOK, doc)
}

func (h *Handler) serveHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := h.context(r)
	defer cancel()
	hl, err := h.n.Health(ctx)
	if err != nil {
		writeError(w, errorStatus(err), "health: %v", err)
		return
	}
	writeJSON(w, http.StatusOK, healthDoc(h.n.Name(), time.Now().UTC(), hl))
}

func (h *Handler) serveEvents(w http.ResponseWriter, _ *http.Request) {
	evs, dropped := h.events.list()
	writeJSON(w, http.StatusOK, EventsDoc{Node: h.n.Name(), Time: time.Now().UTC(), Events: evs, Dropped: dropped})
}
