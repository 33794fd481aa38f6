package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/cluster"
	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/internal/testkit"
)

const (
	testMaxKey   = 16
	testMaxValue = 64
)

// testNode starts an in-process node on loopback. With expect 1 it forms a
// single-server cluster; with a higher expect it waits forever for peers
// and so never has a leader.
func testNode(t *testing.T, expect int) *cluster.Node {
	t.Helper()
	o := options{
		name: fmt.Sprintf("t%d", expect), gossipAddr: "127.0.0.1:0", raftAddr: "127.0.0.1:0",
		bootstrapExpect: expect, dataDir: t.TempDir(), profile: cluster.ProfileLocal,
		maxValueSize: testMaxValue, maxKeySize: testMaxKey,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	node, err := startNode(ctx, o, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, node.Close()) })
	return node
}

// testAPI serves the API of b on an httptest server and returns its URL.
func testAPI(t *testing.T, b backend, timeout time.Duration) string {
	t.Helper()
	a := &api{node: b, maxKey: testMaxKey, maxValue: testMaxValue, timeout: timeout, logger: slog.New(slog.DiscardHandler)}
	srv := httptest.NewServer(a.handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

type apiCase struct {
	name    string
	method  string
	path    string
	body    string
	chunked bool   // send the body without a Content-Length
	status  int    // expected status
	want    string // expected body for a success, or a substring of the error
}

func (c apiCase) run(t *testing.T, base string) http.Header {
	t.Helper()
	var body io.Reader = strings.NewReader(c.body)
	if c.chunked {
		body = io.MultiReader(body) // hides the length from net/http
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, c.method, base+c.path, body)
	require.NoError(t, err)
	resp, err := httpClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, c.status, resp.StatusCode, "body: %s", got)
	if c.status >= 400 {
		var e errorBody
		require.NoError(t, json.Unmarshal(got, &e), "error bodies are JSON: %s", got)
		require.Contains(t, e.Error, c.want)
		require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	} else if c.want != "" || c.status == http.StatusOK {
		require.Equal(t, c.want, string(got))
	}
	return resp.Header
}

// TestAPIStatusCodes runs every kv request form against a single-server
// cluster, in order: later cases see the effects of earlier ones.
func TestAPIStatusCodes(t *testing.T) {
	base := testAPI(t, testNode(t, 1), 10*time.Second)
	testkit.WaitFor(t, 30*time.Second, func() bool {
		code, _, _ := do(context.Background(), http.MethodGet, base+"/readyz", nil)
		return code == http.StatusOK
	}, "readyz 200")

	long := strings.Repeat("k", testMaxKey+1)
	big := strings.Repeat("v", testMaxValue+1)
	cases := []apiCase{
		{"get absent", "GET", "/kv/a", "", false, 404, "key not found"},
		{"put", "PUT", "/kv/a", "one", false, 204, ""},
		{"get default level", "GET", "/kv/a", "", false, 200, "one"},
		{"get linearizable", "GET", "/kv/a?consistency=linearizable", "", false, 200, "one"},
		{"get leader", "GET", "/kv/a?consistency=leader", "", false, 200, "one"},
		{"get stale", "GET", "/kv/a?consistency=stale", "", false, 200, "one"},
		{"head", "HEAD", "/kv/a", "", false, 200, ""},
		{"cas mismatch", "PUT", "/kv/a?prev-value=zero", "two", false, 412, "compare-and-swap failed"},
		{"cas absent", "PUT", "/kv/nope?prev-value=", "two", false, 412, "compare-and-swap failed"},
		{"cas match", "PUT", "/kv/a?prev-value=one", "two", false, 204, ""},
		{"after cas", "GET", "/kv/a", "", false, 200, "two"},
		{"cas in body, mismatch", "PUT", "/kv/a?prev-length=3", "onethree", false, 412, "compare-and-swap failed"},
		{"cas in body", "PUT", "/kv/a?prev-length=3", "twothree", false, 204, ""},
		{"after cas in body", "GET", "/kv/a", "", false, 200, "three"},
		{"cas in body, largest values", "PUT", "/kv/a?prev-length=5", "three" + big[1:], false, 204, ""},
		{"cas in body, value over limit", "PUT", "/kv/a?prev-length=3", "abc" + big, false, 413, "exceeds the limit"},
		{"cas in body, short body", "PUT", "/kv/a?prev-length=9", "abc", false, 400, "shorter than prev-length"},
		{"cas in body, bad length", "PUT", "/kv/a?prev-length=-1", "abc", false, 400, "prev-length must be"},
		{"cas in body and query", "PUT", "/kv/a?prev-length=1&prev-value=x", "abc", false, 400, "without prev-value"},
		{"restore a", "PUT", "/kv/a", "two", false, 204, ""},
		{"empty value", "PUT", "/kv/e", "", false, 204, ""},
		{"cas on empty value", "PUT", "/kv/e?prev-value=", "x", false, 204, ""},
		{"value at limit", "PUT", "/kv/max", big[1:], false, 204, ""},
		{"slash in key", "PUT", "/kv/dir/sub%2Fkey", "s", false, 204, ""},
		{"slash in key read", "GET", "/kv/dir/sub/key", "", false, 200, "s"},
		{"delete", "DELETE", "/kv/a", "", false, 204, ""},
		{"delete absent", "DELETE", "/kv/a", "", false, 204, ""},
		{"get deleted", "GET", "/kv/a", "", false, 404, "key not found"},
		{"empty key", "PUT", "/kv/", "x", false, 400, "empty key"},
		{"empty key get", "GET", "/kv/", "", false, 400, "empty key"},
		{"long key", "PUT", "/kv/" + long, "x", false, 400, "exceeds the limit"},
		{"long key get", "GET", "/kv/" + long, "", false, 400, "exceeds the limit"},
		{"bad consistency", "GET", "/kv/a?consistency=strong", "", false, 400, "allowed stale, leader, linearizable"},
		{"unknown parameter", "PUT", "/kv/a?prev_value=x", "x", false, 400, `unknown parameter "prev_value"`},
		{"repeated parameter", "GET", "/kv/a?consistency=stale&consistency=leader", "", false, 400, "given 2 times"},
		{"bad query string", "GET", "/kv/a?consistency=%zz", "", false, 400, "bad query string"},
		{"long prev-value", "PUT", "/kv/a?prev-value=" + big, "x", false, 400, "prev-value"},
		{"value over limit", "PUT", "/kv/big", big, false, 413, "exceeds the limit"},
		{"chunked value over limit", "PUT", "/kv/big", big, true, 413, "exceeds the limit"},
		{"big not stored", "GET", "/kv/big", "", false, 404, "key not found"},
		{"post", "POST", "/kv/a", "x", false, 405, "method POST not allowed"},
		{"unknown path", "GET", "/nope", "", false, 404, "no such endpoint"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, base) })
	}

	h := apiCase{"allow", "POST", "/kv/a", "", false, 405, "not allowed"}.run(t, base)
	require.Equal(t, "DELETE, GET, HEAD, PUT", h.Get("Allow"))
}

// TestAPINoLeader: a node that never bootstraps has no leader, so writes and
// reads that need one answer 503 with Retry-After once the request timeout
// passes, and /readyz answers 503.
func TestAPINoLeader(t *testing.T) {
	base := testAPI(t, testNode(t, 3), 300*time.Millisecond)
	for _, c := range []apiCase{
		{"put", "PUT", "/kv/a", "x", false, 503, "no leader"},
		{"delete", "DELETE", "/kv/a", "", false, 503, "no leader"},
		{"get linearizable", "GET", "/kv/a", "", false, 503, "no leader"},
		{"get leader", "GET", "/kv/a?consistency=leader", "", false, 503, "no leader"},
		{"readyz", "GET", "/readyz", "", false, 503, "not ready"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := c.run(t, base)
			require.Equal(t, retryAfter, h.Get("Retry-After"))
		})
	}
	// A stale read is served from the local (empty) state.
	apiCase{"get stale", "GET", "/kv/a?consistency=stale", "", false, 404, "key not found"}.run(t, base)
}

// fakeBackend fails every Apply and Query with err.
type fakeBackend struct {
	*cluster.Node
	err error
}

func (f fakeBackend) Apply(context.Context, []byte) ([]byte, error) { return nil, f.err }
func (f fakeBackend) Query(context.Context, consensus.ReadLevel, []byte) ([]byte, error) {
	return nil, f.err
}

// TestAPIOutcomeUnknown: a write whose outcome is unknown is never reported
// as a success or a plain failure. A real cluster cannot produce it on
// demand, so a fake backend does.
func TestAPIOutcomeUnknown(t *testing.T) {
	err := fmt.Errorf("%w: %w", consensus.ErrOutcomeUnknown, errors.New("connection reset"))
	base := testAPI(t, fakeBackend{err: err}, time.Second)
	apiCase{"put", "PUT", "/kv/a", "x", false, 504, "outcome unknown"}.run(t, base)
	apiCase{"delete", "DELETE", "/kv/a", "", false, 504, "outcome unknown"}.run(t, base)
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		err    error
		write  bool
		status int
	}{
		{fmt.Errorf("%w: %w", consensus.ErrOutcomeUnknown, context.DeadlineExceeded), true, 504},
		{fmt.Errorf("%w: %w", consensus.ErrNoLeader, context.DeadlineExceeded), true, 503},
		{fmt.Errorf("%w: %w", consensus.ErrNoLeader, context.DeadlineExceeded), false, 503},
		{cluster.ErrNoServers, true, 503},
		{consensus.ErrStale, false, 503},
		{consensus.ErrClosed, true, 503},
		{cluster.ErrClosed, false, 503},
		{consensus.ErrTooLarge, true, 413},
		{context.DeadlineExceeded, true, 504},
		{context.DeadlineExceeded, false, 503},
		{&consensus.StateMachineError{Err: errMalformed}, true, 500},
	} {
		status, msg := classify(c.err, c.write)
		require.Equal(t, c.status, status, "%v (write %v): %s", c.err, c.write, msg)
	}
}
