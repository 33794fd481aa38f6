package admin_test

import (
	"bytes"
	"errors"
	"github.com/conclave-go/conclave/consensus"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/cluster"
	"github.com/conclave-go/conclave/cluster/admin"
	"github.com/conclave-go/conclave/cluster/clustertest"
	"github.com/conclave-go/conclave/internal/testkit"
)

func TestEndpointsDescribeTheCluster(t *testing.T) {
	c := clustertest.New(t, 3, clustertest.WithConfig(func(i int, cfg *cluster.Config) {
		cfg.Tags = map[string]string{"zone": "z" + string(rune('a'+i))}
	}))
	lead := c.WaitLeader()
	s := mount(t, c.Node(0), admin.Options{})
	testkit.WaitFor(t, 30*time.Second, func() bool { return s.health(t).HealthyVoters == 3 }, "three healthy voters")

	var members admin.MembersDoc
	s.get(t, "/cluster/members", &members)
	require.Equal(t, c.Name(0), members.Node)
	require.WithinDuration(t, time.Now(), members.Time, time.Minute)
	require.Len(t, members.Members, 3)
	for i, m := range members.Members {
		require.Equal(t, c.Name(i), m.Name)
		require.Equal(t, "alive", m.Status)
		require.Equal(t, "server", m.Role)
		require.Equal(t, map[string]string{"zone": "z" + string(rune('a'+i))}, m.Tags, "user tags only")
		require.NotEmpty(t, m.Address)
		require.NotEmpty(t, m.RPCAddress)
	}

	var raft admin.RaftDoc
	s.get(t, "/cluster/raft", &raft)
	require.Equal(t, c.Name(lead), raft.Leader.Name)
	require.Len(t, raft.Servers, 3)
	for _, sv := range raft.Servers {
		require.Equal(t, "voter", sv.Suffrage)
		require.Equal(t, sv.Name == c.Name(lead), sv.Leader, sv.Name)
		require.True(t, sv.Healthy && sv.Known, sv.Name)
		require.Equal(t, "alive", sv.Gossip)
		require.NotNil(t, sv.LastContactSeconds)
		require.NotNil(t, sv.HealthySince)
	}

	var leader admin.LeaderAnswer
	s.get(t, "/cluster/leader", &leader)
	require.Equal(t, c.Name(lead), leader.Leader.Name)
	require.Positive(t, leader.Term)
	require.Equal(t, lead == 0, leader.IsLeader)

	h := s.health(t)
	require.True(t, h.Healthy)
	require.Equal(t, 3, h.Voters)
	require.Equal(t, 1, h.FailureTolerance)

	// Events: a kill shows up as a member-failed event, with an RFC 3339
	// time (json decoding into time.Time checks the format).
	victim := c.Except(0, lead)[0]
	require.NoError(t, c.Kill(victim))
	testkit.WaitFor(t, 30*time.Second, func() bool {
		var evs admin.EventsDoc
		s.get(t, "/cluster/events", &evs)
		for _, ev := range evs.Events {
			if ev.Type == "member-failed" && ev.Member != nil && ev.Member.Name == c.Name(victim) {
				return true
			}
		}
		return false
	}, "a member-failed event for the victim")
	testkit.WaitFor(t, 30*time.Second, func() bool {
		h := s.health(t)
		return h.HealthyVoters == 2 && h.FailureTolerance == 0 && !h.Healthy
	}, "the kill seen in health")
}

func TestOperations(t *testing.T) {
	c := clustertest.New(t, 3, noDeadServerRemoval())
	lead := c.WaitLeader()
	s := mount(t, c.Node(0), admin.Options{})
	testkit.WaitFor(t, 30*time.Second, func() bool { return s.health(t).HealthyVoters == 3 }, "three healthy voters")

	// Transfer to a named voter, then to any.
	to := c.Except(lead)[0]
	status, msg := s.op(t, "/cluster/ops/transfer-leadership", `{"to":"`+c.Name(to)+`"}`)
	require.Equal(t, http.StatusOK, status, msg)
	testkit.WaitFor(t, 30*time.Second, func() bool { return s.health(t).Leader.Name == c.Name(to) }, "the named server leads")
	status, msg = s.op(t, "/cluster/ops/transfer-leadership", `{"to":"`+c.Name(to)+`"}`)
	require.Equal(t, http.StatusConflict, status)
	require.Contains(t, msg, "already leads")
	status, msg = s.op(t, "/cluster/ops/transfer-leadership", ``)
	require.Equal(t, http.StatusOK, status, msg)
	testkit.WaitFor(t, 30*time.Second, func() bool {
		h := s.health(t)
		return h.Leader.Name != "" && h.Leader.Name != c.Name(to)
	}, "another server leads")

	// Kill one server that is not node 0.
	victim := c.Except(0)[0]
	require.NoError(t, c.Kill(victim))
	testkit.WaitFor(t, 30*time.Second, func() bool {
		h := s.health(t)
		return h.HealthyVoters == 2 && h.Leader.Name != ""
	}, "two healthy voters and a leader")

	// Removing a healthy voter would leave one healthy of two: refused.
	other := c.Except(0, victim)[0]
	status, msg = s.op(t, "/cluster/ops/remove-server", `{"name":"`+c.Name(other)+`"}`)
	require.Equal(t, http.StatusConflict, status)
	require.Contains(t, msg, "quorum")

	// The victim may go once gossip has seen it fail; before, the
	// reconciler would add it back.
	testkit.WaitFor(t, 30*time.Second, func() bool {
		var m admin.MembersDoc
		s.get(t, "/cluster/members", &m)
		return memberStatus(m, c.Name(victim)) == "failed"
	}, "the victim failed in gossip")
	testkit.WaitFor(t, 30*time.Second, func() bool {
		var raft admin.RaftDoc
		s.get(t, "/cluster/raft", &raft)
		for _, sv := range raft.Servers {
			if sv.Name == c.Name(victim) {
				return sv.Gossip == "failed"
			}
		}
		return false
	}, "the victim failed in the group state")
	// Under load the survivors' readings can lag for a moment, and the
	// operation is refused until they show a quorum: retry until accepted.
	testkit.WaitFor(t, 30*time.Second, func() bool {
		status, msg = s.op(t, "/cluster/ops/remove-server", `{"name":"`+c.Name(victim)+`"}`)
		return status == http.StatusOK
	}, "the failed server removed (last answer %d %s)", status, msg)
	var raft admin.RaftDoc
	s.get(t, "/cluster/raft", &raft)
	testkit.WaitFor(t, 30*time.Second, func() bool {
		s.get(t, "/cluster/raft", &raft)
		return len(raft.Servers) == 2
	}, "two servers in the configuration")

	// Force leave: only a failed member.
	status, msg = s.op(t, "/cluster/ops/force-leave", `{"name":"`+c.Name(other)+`"}`)
	require.Equal(t, http.StatusConflict, status)
	require.Contains(t, msg, "not failed")
	status, msg = s.op(t, "/cluster/ops/force-leave", `{"name":"nobody"}`)
	require.Equal(t, http.StatusNotFound, status)
	require.Contains(t, msg, "nobody")
	status, msg = s.op(t, "/cluster/ops/force-leave", `{"name":"`+c.Name(victim)+`"}`)
	require.Equal(t, http.StatusOK, status, msg)
	var m admin.MembersDoc
	s.get(t, "/cluster/members", &m)
	require.Equal(t, "left", memberStatus(m, c.Name(victim)))
}

func memberStatus(d admin.MembersDoc, name string) string {
	for _, m := range d.Members {
		if m.Name == name {
			return m.Status
		}
	}
	return ""
}

func TestRefusals(t *testing.T) {
	c := clustertest.New(t, 1)
	c.WaitLeader()
	s := mount(t, c.Node(0), admin.Options{})
	testkit.WaitFor(t, 30*time.Second, func() bool { return s.health(t).Voters == 1 }, "one voter")

	cases := []struct {
		name, method, path, ctype, body string
		status                          int
		want                            string
	}{
		{"GET on an operation", "GET", "/cluster/ops/remove-server", "", "", 405, "only answer POST"},
		{"POST on a status endpoint", "POST", "/cluster/health", "application/json", "{}", 405, "only answers GET"},
		{"not JSON", "POST", "/cluster/ops/remove-server", "text/plain", `{"name":"x"}`, 415, "application/json"},
		{"bad JSON", "POST", "/cluster/ops/remove-server", "application/json", `{"name":`, 400, "bad JSON"},
		{"unknown field", "POST", "/cluster/ops/remove-server", "application/json", `{"nmae":"x"}`, 400, "nmae"},
		{"two values", "POST", "/cluster/ops/remove-server", "application/json", `{"name":"x"}{}`, 400, "more than one"},
		{"missing name", "POST", "/cluster/ops/remove-server", "application/json", `{}`, 400, `"name" is required`},
		{"empty body", "POST", "/cluster/ops/force-leave", "application/json", ``, 400, "empty body"},
		{"long name", "POST", "/cluster/ops/force-leave", "application/json", `{"name":"` + strings.Repeat("x", 300) + `"}`, 400, "at most 256"},
		{"unknown server", "POST", "/cluster/ops/remove-server", "application/json", `{"name":"ghost"}`, 404, `no server "ghost"`},
		{"last voter", "POST", "/cluster/ops/remove-server", "application/json", `{"name":"` + c.Name(0) + `"}`, 409, "last voter"},
		{"transfer with one voter", "POST", "/cluster/ops/transfer-leadership", "application/json", `{}`, 409, "no other voter"},
		{"transfer to unknown", "POST", "/cluster/ops/transfer-leadership", "application/json", `{"to":"ghost"}`, 404, "ghost"},
		{"unknown endpoint", "GET", "/cluster/nothing", "", "", 404, "no such endpoint"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := s.do(t, tc.method, tc.path, tc.ctype, tc.body)
			requireError(t, status, body, tc.status, tc.want)
		})
	}
	// A real node streams a backup the consensus package accepts.
	status, body := s.do(t, http.MethodPost, "/cluster/ops/snapshot", "application/json", "")
	require.Equal(t, http.StatusOK, status)
	_, err := consensus.VerifySnapshot(bytes.NewReader(body))
	require.NoError(t, err)
}

func TestAuthorizeGuardsOperationsOnly(t *testing.T) {
	c := clustertest.New(t, 1)
	c.WaitLeader()
	s := mount(t, c.Node(0), admin.Options{Authorize: func(r *http.Request) error {
		if r.Header.Get("Authorization") != "Bearer sesame" {
			return errors.New("missing or wrong bearer token")
		}
		return nil
	}})
	status, body := s.do(t, "POST", "/cluster/ops/transfer-leadership", "application/json", `{}`)
	requireError(t, status, body, http.StatusForbidden, "wrong bearer token")

	var members admin.MembersDoc
	s.get(t, "/cluster/members", &members) // reads are not guarded
	require.Len(t, members.Members, 1)

	req, err := http.NewRequestWithContext(testkit.Context(t, 20*time.Second), "POST", s.srv.URL+"/cluster/ops/transfer-leadership", strings.NewReader(`{}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer sesame")
	resp, err := s.srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	// Authorized, the operation runs and is refused on its merits.
	require.Equal(t, http.StatusConflict, resp.StatusCode)
}

func TestPageIsSelfContained(t *testing.T) {
	c := clustertest.New(t, 1)
	c.WaitLeader()
	s := mount(t, c.Node(0), admin.Options{})
	// Without the trailing slash the page's relative links would break.
	req, err := http.NewRequestWithContext(testkit.Context(t, 10*time.Second), "GET", s.srv.URL+"/cluster", nil)
	require.NoError(t, err)
	resp, err := http.DefaultTransport.RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Contains(t, []int{http.StatusMovedPermanently, http.StatusTemporaryRedirect}, resp.StatusCode)
	require.Equal(t, "/cluster/", resp.Header.Get("Location"))

	status, body := s.do(t, "GET", "/cluster/", "", "")
	require.Equal(t, http.StatusOK, status)
	page := string(body)
	require.Contains(t, page, "<title>Conclave cluster</title>")
	for _, external := range []string{"http://", "https://", "<link", "src=", "@import", "url("} {
		require.NotContains(t, page, external, "the page must work offline")
	}
	for _, endpoint := range []string{`"members"`, `"raft"`, `"health"`, `"events"`} {
		require.Contains(t, page, endpoint, "the page reads the JSON endpoints")
	}
}
