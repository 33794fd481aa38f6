package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/cluster/admin"
	"github.com/conclave-go/conclave/internal/testkit"
)

// operatorServer serves the kvstore's whole HTTP interface for node, as
// newServer builds it, and returns its URL.
func operatorServer(t *testing.T, withPprof bool) string {
	t.Helper()
	node := testNode(t, 1)
	a := &api{node: node, maxKey: testMaxKey, maxValue: testMaxValue, timeout: 10 * time.Second, logger: slog.New(slog.DiscardHandler)}
	h, ops, err := withOperator(a.mux(), node, withPprof)
	require.NoError(t, err)
	t.Cleanup(ops.close)
	srv := httptest.NewServer(a.fastKeys(h))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestOperatorEndpoints: the admin handler answers under /cluster/, the
// metrics at /metrics, the hand-written /cluster/status is gone, and
// /debug/pprof/ only answers with -pprof.
func TestOperatorEndpoints(t *testing.T) {
	base := operatorServer(t, false)
	testkit.WaitFor(t, 30*time.Second, func() bool {
		code, body, _ := do(context.Background(), http.MethodGet, base+"/cluster/health", nil)
		var h admin.HealthDoc
		return code == http.StatusOK && json.Unmarshal(body, &h) == nil && h.Healthy && h.Voters == 1
	}, "a healthy single-voter group at /cluster/health")

	ctx := testkit.Context(t, 10*time.Second)
	code, body, _ := do(ctx, http.MethodGet, base+"/cluster/members", nil)
	require.Equal(t, http.StatusOK, code, "%s", body)
	var members admin.MembersDoc
	require.NoError(t, json.Unmarshal(body, &members))
	require.Len(t, members.Members, 1)
	require.Equal(t, "alive", members.Members[0].Status)

	code, body, _ = do(ctx, http.MethodGet, base+"/cluster/", nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(body), "<title>Conclave cluster</title>")

	code, body, _ = do(ctx, http.MethodGet, base+"/cluster/status", nil)
	require.Equal(t, http.StatusNotFound, code, "%s", body)

	code, body, _ = do(ctx, http.MethodGet, base+"/metrics", nil)
	require.Equal(t, http.StatusOK, code)
	for _, m := range []string{"conclave_raft_term", "conclave_cluster_voters", "go_goroutines"} {
		require.Contains(t, string(body), m)
	}

	code, _, _ = do(ctx, http.MethodGet, base+"/debug/pprof/", nil)
	require.Equal(t, http.StatusNotFound, code, "pprof is off by default")

	code, body, _ = do(ctx, http.MethodGet, base+"/kv/missing", nil)
	require.Equal(t, http.StatusNotFound, code)
	require.True(t, strings.Contains(string(body), "key not found"), "%s", body)
}

func TestPprofBehindTheFlag(t *testing.T) {
	base := operatorServer(t, true)
	code, body, _ := do(testkit.Context(t, 10*time.Second), http.MethodGet, base+"/debug/pprof/", nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(body), "goroutine")
}
