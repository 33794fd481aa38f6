package main

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/conclave-go/conclave/cluster"
	"github.com/conclave-go/conclave/membership"
)

// healthTimeout bounds the status round /cluster/status makes to every
// server.
const healthTimeout = 2 * time.Second

type memberJSON struct {
	Name     string            `json:"name"`
	Addr     string            `json:"addr"`
	Status   string            `json:"status"`
	Role     string            `json:"role"`
	RaftAddr string            `json:"raft_addr,omitempty"`
	Tags     map[string]string `json:"tags,omitempty"`
}

func memberView(m membership.Member) memberJSON {
	return memberJSON{
		Name: m.Name, Addr: m.Address(), Status: m.Status.String(),
		Role: m.Role.String(), RaftAddr: m.RPCAddr, Tags: m.Tags,
	}
}

// members serves GET /cluster/members: every member gossip knows of, sorted
// by name.
func (a *api) members(w http.ResponseWriter, _ *http.Request) {
	ms := a.node.Members()
	slices.SortFunc(ms, func(x, y membership.Member) int { return strings.Compare(x.Name, y.Name) })
	out := make([]memberJSON, 0, len(ms))
	for _, m := range ms {
		out = append(out, memberView(m))
	}
	writeJSON(w, http.StatusOK, map[string]any{"members": out})
}

type leaderJSON struct {
	ID   string `json:"id"`
	Addr string `json:"addr"`
	Term uint64 `json:"term"`
}

type serverJSON struct {
	ID           string `json:"id"`
	Addr         string `json:"addr"`
	Suffrage     string `json:"suffrage"`
	Gossip       string `json:"gossip"`
	State        string `json:"state"` // "unknown" when the server did not answer
	LastContact  string `json:"last_contact"`
	ReadAge      string `json:"read_age"` // age of the status reading shown, "never" if none
	AppliedIndex uint64 `json:"applied_index"`
	CommitIndex  uint64 `json:"commit_index"`
	Lag          uint64 `json:"lag"`
	Healthy      bool   `json:"healthy"`
	Error        string `json:"error,omitempty"`
	// NotVoterReason says why a non-voter is not a voter yet.
	NotVoterReason string `json:"not_voter_reason,omitempty"`
}

type healthJSON struct {
	Age              string       `json:"age"`
	Voters           int          `json:"voters"`
	HealthyVoters    int          `json:"healthy_voters"`
	FailureTolerance int          `json:"failure_tolerance"`
	Servers          []serverJSON `json:"servers"`
	BootstrapError   string       `json:"bootstrap_error,omitempty"`
}

type statusJSON struct {
	Node         memberJSON  `json:"node"`
	HTTPAddr     string      `json:"http_addr"`
	Role         string      `json:"role"`
	Term         uint64      `json:"term"`
	Leader       *leaderJSON `json:"leader"`
	CommitIndex  uint64      `json:"commit_index"`
	AppliedIndex uint64      `json:"applied_index"`
	Health       *healthJSON `json:"health"`
	HealthError  string      `json:"health_error,omitempty"`
}

// status serves GET /cluster/status: this node's Raft role and term, the
// leader it knows, and the group's health as this node sees it.
func (a *api) status(w http.ResponseWriter, r *http.Request) {
	st := a.node.Status()
	out := statusJSON{
		Node:         memberView(a.node.Local()),
		HTTPAddr:     a.httpAddr,
		Role:         st.State.String(),
		Term:         st.Term,
		CommitIndex:  st.CommitIndex,
		AppliedIndex: st.AppliedIndex,
	}
	if l := st.Leader; l.Name != "" {
		out.Leader = &leaderJSON{ID: l.Name, Addr: l.Addr, Term: l.Term}
	}
	ctx, cancel := context.WithTimeout(r.Context(), min(a.timeout, healthTimeout))
	defer cancel()
	if h, err := a.node.Health(ctx); err != nil {
		out.HealthError = err.Error()
	} else {
		out.Health = healthView(h)
	}
	writeJSON(w, http.StatusOK, out)
}

func healthView(h cluster.Health) *healthJSON {
	out := &healthJSON{
		Age: h.Age.String(), Voters: h.Voters, HealthyVoters: h.HealthyVoters, FailureTolerance: h.FailureTolerance,
		Servers: make([]serverJSON, 0, len(h.Servers)), BootstrapError: h.BootstrapError,
	}
	for _, s := range h.Servers {
		out.Servers = append(out.Servers, serverView(s))
	}
	return out
}

func serverView(s cluster.ServerHealth) serverJSON {
	v := serverJSON{
		ID: s.Name, Addr: s.Addr, Suffrage: s.Suffrage.String(), Gossip: s.Gossip.String(),
		State: s.State.String(), LastContact: s.LastContact.String(), ReadAge: s.ReadAge.String(),
		AppliedIndex: s.AppliedIndex, CommitIndex: s.CommitIndex, Lag: s.Lag,
		Healthy: s.Healthy, Error: s.Error, NotVoterReason: s.NotVoterReason,
	}
	if !s.Known {
		v.State = "unknown"
	}
	if s.ReadAge < 0 {
		v.ReadAge, v.LastContact = "never", "never"
	}
	return v
}

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
