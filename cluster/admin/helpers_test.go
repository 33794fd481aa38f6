package admin_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/cluster"
	"github.com/conclave-go/conclave/cluster/admin"
	"github.com/conclave-go/conclave/cluster/clustertest"
	"github.com/conclave-go/conclave/internal/testkit"
)

// server mounts a handler for one node at /cluster/, as the kvstore does.
type server struct {
	h   *admin.Handler
	srv *httptest.Server
}

func mount(t *testing.T, n *cluster.Node, opts admin.Options) *server {
	h := admin.New(n, opts)
	t.Cleanup(h.Close)
	mux := http.NewServeMux()
	mux.Handle("/cluster/", http.StripPrefix("/cluster", h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &server{h: h, srv: srv}
}

// do sends a request and returns the status and body.
func (s *server) do(t *testing.T, method, path, contentType, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(testkit.Context(t, 20*time.Second), method, s.srv.URL+path, bytes.NewBufferString(body))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := s.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

// get decodes a GET answer into v.
func (s *server) get(t *testing.T, path string, v any) {
	t.Helper()
	status, body := s.do(t, http.MethodGet, path, "", "")
	require.Equal(t, http.StatusOK, status, "GET %s: %s", path, body)
	require.NoError(t, json.Unmarshal(body, v), "%s", body)
}

// op posts a JSON operation and returns the status and the error text (""
// on success).
func (s *server) op(t *testing.T, path, body string) (int, string) {
	t.Helper()
	status, b := s.do(t, http.MethodPost, path, "application/json", body)
	var e admin.ErrorDoc
	if status != http.StatusOK {
		require.NoError(t, json.Unmarshal(b, &e), "error answers are JSON: %s", b)
		require.NotEmpty(t, e.Error, "%s", b)
	}
	return status, e.Error
}

// requireError checks an answer is a JSON error with the status whose text
// contains want.
func requireError(t *testing.T, status int, body []byte, wantStatus int, want string) {
	t.Helper()
	require.Equal(t, wantStatus, status, "%s", body)
	var e admin.ErrorDoc
	require.NoError(t, json.Unmarshal(body, &e), "%s", body)
	require.Contains(t, e.Error, want)
}

// noDeadServerRemoval keeps failed servers in the Raft configuration, so
// that the operations, not the reconciler, remove them.
func noDeadServerRemoval() clustertest.Option {
	return clustertest.WithConfig(func(_ int, cfg *cluster.Config) {
		cfg.Tuning.DeadServerTimeout = time.Hour
	})
}

func (s *server) health(t *testing.T) admin.HealthDoc {
	var h admin.HealthDoc
	s.get(t, "/cluster/health", &h)
	return h
}
