package admin

import (
	"strings"
	"time"

	"github.com/conclave-go/conclave/cluster"
	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/membership"
)

// The JSON documents below are the handler's stable schema (README,
// "Operating a cluster"). Fields are only ever added. Durations are numbers
// of seconds, times RFC 3339 strings, absent values null.

// MembersDoc is the answer to GET members.
type MembersDoc struct {
	Node    string      `json:"node"` // the node that answered
	Time    time.Time   `json:"time"`
	Members []MemberDoc `json:"members"` // sorted by name
}

// MemberDoc is one member of the gossip member list.
type MemberDoc struct {
	Name       string            `json:"name"`
	Address    string            `json:"address"`     // gossip host:port
	Status     string            `json:"status"`      // "alive", "failed", "left" (as in membership.Status)
	Role       string            `json:"role"`        // "server" or "client"
	RPCAddress string            `json:"rpc_address"` // Raft and RPC host:port; "" on clients
	Protocol   int               `json:"protocol"`
	Tags       map[string]string `json:"tags"` // user tags only; never null
}

// RaftDoc is the answer to GET raft.
type RaftDoc struct {
	Node        string      `json:"node"`
	Time        time.Time   `json:"time"`
	Leader      LeaderDoc   `json:"leader"`
	CommitIndex uint64      `json:"commit_index"`
	Servers     []ServerDoc `json:"servers"` // sorted by name
	// AgeSeconds is how old the picture is (see cluster.Health.Age).
	AgeSeconds float64 `json:"age_seconds"`
}

// ServerDoc is one server of the Raft configuration.
type ServerDoc struct {
	Name     string `json:"name"`
	Address  string `json:"address"`
	Suffrage string `json:"suffrage"` // "voter" or "nonvoter"
	Leader   bool   `json:"leader"`
	// Gossip is the server's membership status ("none" when gossip does not
	// know it).
	Gossip string `json:"gossip"`
	// Healthy is cluster.ServerHealth.Healthy; Known says whether the
	// server answered the latest status request, Error why not.
	Healthy bool   `json:"healthy"`
	Known   bool   `json:"known"`
	Error   string `json:"error,omitempty"`
	// State is the Raft role it reported: "leader", "follower",
	// "candidate", "shutdown".
	State string `json:"state"`
	// LastContactSeconds is how long before its reading it had last heard
	// from a leader: 0 on the leader, null if never.
	LastContactSeconds *float64 `json:"last_contact_seconds"`
	AppliedIndex       uint64   `json:"applied_index"`
	CommitIndex        uint64   `json:"commit_index"`
	// Lag is how many committed entries it had yet to apply.
	Lag uint64 `json:"lag"`
	// ReadAgeSeconds is the age of its latest reading, null if never read.
	ReadAgeSeconds *float64   `json:"read_age_seconds"`
	HealthySince   *time.Time `json:"healthy_since"`
	// Reason says why the server is unhealthy; NotVoterReason why a
	// non-voter has no voter seat yet (catching up, stabilizing, above
	// MaxVoters, ...). Empty when not applicable.
	Reason         string `json:"reason,omitempty"`
	NotVoterReason string `json:"not_voter_reason,omitempty"`
}

// LeaderDoc is the leader as the answering node knows it; empty name when
// none.
type LeaderDoc struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Term    uint64 `json:"term"`
}

// LeaderAnswer is the answer to GET leader.
type LeaderAnswer struct {
	Node   string    `json:"node"`
	Time   time.Time `json:"time"`
	Leader LeaderDoc `json:"leader"`
	// Term is the answering server's current term (0 on a client).
	Term uint64 `json:"term"`
	// IsLeader says whether the answering node leads.
	IsLeader bool `json:"is_leader"`
}

// HealthDoc is the answer to GET health.
type HealthDoc struct {
	Node             string    `json:"node"`
	Time             time.Time `json:"time"`
	Leader           LeaderDoc `json:"leader"`
	Voters           int       `json:"voters"`
	HealthyVoters    int       `json:"healthy_voters"`
	NonVoters        int       `json:"nonvoters"`
	FailureTolerance int       `json:"failure_tolerance"`
	// Healthy is true when a leader is known and every voter is healthy.
	Healthy        bool    `json:"healthy"`
	CommitIndex    uint64  `json:"commit_index"`
	AgeSeconds     float64 `json:"age_seconds"`
	BootstrapError string  `json:"bootstrap_error,omitempty"`
}

// EventsDoc is the answer to GET events: the latest events this node saw,
// oldest first, at most Options.Events of them.
type EventsDoc struct {
	Node   string     `json:"node"`
	Time   time.Time  `json:"time"`
	Events []EventDoc `json:"events"`
	// Dropped counts events lost because the handler's subscription queue
	// was full.
	Dropped uint64 `json:"dropped"`
}

// EventDoc is one event: Member is set for member events, Leader for
// leader changes (an empty leader name: the leader was lost).
type EventDoc struct {
	Time   time.Time  `json:"time"`
	Type   string     `json:"type"` // as cluster.EventType.String: "member-join", "leader-change", ...
	Member *MemberDoc `json:"member,omitempty"`
	Leader *LeaderDoc `json:"leader,omitempty"`
}

// ErrorDoc is the body of every error answer.
type ErrorDoc struct {
	Error string `json:"error"`
}

// OpDoc is the answer to a successful operation.
type OpDoc struct {
	Node   string `json:"node"`
	Result string `json:"result"`
}

func memberDoc(m membership.Member) MemberDoc {
	tags := make(map[string]string, len(m.Tags))
	for k, v := range m.Tags {
		if !strings.HasPrefix(k, membership.ReservedTagPrefix) {
			tags[k] = v
		}
	}
	return MemberDoc{
		Name:       m.Name,
		Address:    m.Address(),
		Status:     m.Status.String(),
		Role:       m.Role.String(),
		RPCAddress: m.RPCAddr,
		Protocol:   int(m.Protocol),
		Tags:       tags,
	}
}

func leaderDoc(l consensus.LeaderInfo) LeaderDoc {
	return LeaderDoc{Name: l.Name, Address: l.Addr, Term: l.Term}
}

func seconds(d time.Duration) *float64 {
	if d < 0 {
		return nil
	}
	s := d.Seconds()
	return &s
}

func serverDoc(s cluster.ServerHealth, leader string) ServerDoc {
	d := ServerDoc{
		Name:               s.Name,
		Address:            s.Addr,
		Suffrage:           s.Suffrage.String(),
		Leader:             s.Name == leader,
		Gossip:             s.Gossip.String(),
		Healthy:            s.Healthy,
		Known:              s.Known,
		Error:              s.Error,
		State:              s.State.String(),
		LastContactSeconds: seconds(s.LastContact),
		AppliedIndex:       s.AppliedIndex,
		CommitIndex:        s.CommitIndex,
		Lag:                s.Lag,
		ReadAgeSeconds:     seconds(s.ReadAge),
		Reason:             s.Reason,
		NotVoterReason:     s.NotVoterReason,
	}
	if !s.HealthySince.IsZero() {
		t := s.HealthySince.UTC()
		d.HealthySince = &t
	}
	return d
}

func healthDoc(node string, now time.Time, h cluster.Health) HealthDoc {
	return HealthDoc{
		Node:             node,
		Time:             now,
		Leader:           leaderDoc(h.Leader),
		Voters:           h.Voters,
		HealthyVoters:    h.HealthyVoters,
		NonVoters:        len(h.Servers) - h.Voters,
		FailureTolerance: h.FailureTolerance,
		Healthy:          h.Leader.Name != "" && h.Voters > 0 && h.HealthyVoters == h.Voters,
		CommitIndex:      h.CommitIndex,
		AgeSeconds:       h.Age.Seconds(),
		BootstrapError:   h.BootstrapError,
	}
}
