package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/internal/testkit"
)

// postBatch sends body to POST /batch on p and returns the status and the
// decoded response (results or error).
func postBatch(ctx context.Context, t *testing.T, p *proc, body string) (int, batchResponse, errorBody) {
	t.Helper()
	code, raw, _ := do(ctx, http.MethodPost, "http://"+p.http+"/batch", []byte(body))
	var res batchResponse
	var e errorBody
	if code == http.StatusOK {
		require.NoError(t, json.Unmarshal(raw, &res), "%s", raw)
	} else {
		require.NoError(t, json.Unmarshal(raw, &e), "status %d: %s", code, raw)
	}
	return code, res, e
}

func statuses(r batchResponse) []int {
	out := make([]int, len(r.Results))
	for i, x := range r.Results {
		out[i] = x.Status
	}
	return out
}

// TestBatchEndpoint runs three kvstore processes and sends batches through
// a follower: every operation answers its own status, the writes reach
// every node, an atomic batch whose CAS fails changes nothing, and bad
// batches are refused whole with the index of the bad operation.
func TestBatchEndpoint(t *testing.T) {
	bin := buildKvstore(t)
	procs := startCluster(t, bin, 3, "-max-batch-ops", "8", "-max-value-size", "64", "-max-key-size", "16")
	waitReady(t, procs...)
	lead := leaderProc(t, procs)
	follower := procs[0]
	if follower == lead {
		follower = procs[1]
	}
	ctx := testkit.Context(t, 2*time.Minute)

	code, res, e := postBatch(ctx, t, follower, `{"ops": [
		{"op": "put", "key": "a", "value": "1"},
		{"op": "cas", "key": "a", "prev": "1", "value": "2"},
		{"op": "cas", "key": "a", "prev": "1", "value": "3"},
		{"op": "get", "key": "a"},
		{"op": "put", "key": "dir/b", "value": ""},
		{"op": "delete", "key": "absent"},
		{"op": "get", "key": "absent"}]}`)
	require.Equal(t, http.StatusOK, code, "%+v", e)
	require.Equal(t, []int{204, 204, 412, 200, 204, 204, 404}, statuses(res))
	require.Equal(t, "2", *res.Results[3].Value)
	for _, p := range procs { // one entry, applied on every node
		testkit.WaitFor(t, 30*time.Second, func() bool {
			c1, a, _ := do(ctx, http.MethodGet, "http://"+p.http+"/kv/a?consistency=stale", nil)
			c2, b, _ := do(ctx, http.MethodGet, "http://"+p.http+"/kv/dir/b?consistency=stale", nil)
			return c1 == http.StatusOK && string(a) == "2" && c2 == http.StatusOK && len(b) == 0
		}, "the batch applied on %s", p.name)
	}

	// Atomic: the failed CAS undoes the put before it.
	code, res, e = postBatch(ctx, t, follower, `{"atomic": true, "ops": [
		{"op": "put", "key": "c", "value": "1"},
		{"op": "cas", "key": "a", "prev": "wrong", "value": "x"}]}`)
	require.Equal(t, http.StatusOK, code, "%+v", e)
	require.Equal(t, []int{424, 412}, statuses(res))
	require.Contains(t, res.Results[0].Error, "op 1")
	code, _, _ = do(ctx, http.MethodGet, "http://"+lead.http+"/kv/c", nil)
	require.Equal(t, http.StatusNotFound, code)

	// Binary values travel in base64, both ways; in text they are refused.
	code, res, e = postBatch(ctx, t, lead, `{"encoding": "base64", "ops": [
		{"op": "put", "key": "bin", "value": "/wA="}, {"op": "get", "key": "bin"}]}`)
	require.Equal(t, http.StatusOK, code, "%+v", e)
	require.Equal(t, "/wA=", *res.Results[1].Value)
	_, raw, _ := do(ctx, http.MethodGet, "http://"+lead.http+"/kv/bin", nil)
	require.Equal(t, []byte{0xff, 0}, raw)
	code, res, _ = postBatch(ctx, t, lead, `{"ops": [{"op": "get", "key": "bin"}]}`)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, []int{406}, statuses(res))

	long := strings.Repeat("v", 65)
	nine := strings.Repeat(`{"op": "get", "key": "a"},`, 9)
	for _, c := range []struct {
		name, body string
		status     int
		op         int // -1: no operation named
		want       string
	}{
		{"not JSON", `{"ops": [`, 400, -1, "bad batch"},
		{"unknown field", `{"ops": [{"op": "get", "key": "a", "ttl": 3}]}`, 400, -1, `unknown field "ttl"`},
		{"no ops", `{"ops": []}`, 400, -1, "no operations"},
		{"too many ops", `{"ops": [` + strings.TrimSuffix(nine, ",") + `]}`, 413, -1, "limit of 8"},
		{"bad encoding", `{"encoding": "hex", "ops": [{"op": "get", "key": "a"}]}`, 400, -1, "encoding"},
		{"unknown op", `{"ops": [{"op": "get", "key": "a"}, {"op": "incr", "key": "a"}]}`, 400, 1, `unknown op "incr"`},
		{"empty key", `{"ops": [{"op": "delete", "key": ""}]}`, 400, 0, "empty key"},
		{"long key", `{"ops": [{"op": "delete", "key": "` + strings.Repeat("k", 17) + `"}]}`, 400, 0, "key of 17 bytes"},
		{"put without value", `{"ops": [{"op": "get", "key": "a"}, {"op": "get", "key": "a"}, {"op": "put", "key": "a"}]}`, 400, 2, "takes a value"},
		{"get with value", `{"ops": [{"op": "get", "key": "a", "value": "x"}]}`, 400, 0, "takes a value"},
		{"cas without prev", `{"ops": [{"op": "cas", "key": "a", "value": "x"}]}`, 400, 0, "takes a prev"},
		{"value too large", `{"ops": [{"op": "put", "key": "a", "value": "` + long + `"}]}`, 413, 0, "value of 65 bytes"},
		{"bad base64", `{"encoding": "base64", "ops": [{"op": "put", "key": "a", "value": "!!"}]}`, 400, 0, "value: illegal base64"},
		{"data after", `{"ops": [{"op": "get", "key": "a"}]} {}`, 400, -1, "data after"},
	} {
		code, _, e := postBatch(ctx, t, follower, c.body)
		require.Equal(t, c.status, code, "%s: %+v", c.name, e)
		require.Contains(t, e.Error, c.want, c.name)
		if c.op < 0 {
			require.Nil(t, e.Op, c.name)
		} else {
			require.NotNil(t, e.Op, c.name)
			require.Equal(t, c.op, *e.Op, c.name)
			require.True(t, strings.HasPrefix(e.Error, fmt.Sprintf("op %d: ", c.op)), "%s: %s", c.name, e.Error)
		}
	}
	// A refused batch changed nothing.
	_, raw, _ = do(ctx, http.MethodGet, "http://"+lead.http+"/kv/a", nil)
	require.Equal(t, "2", string(raw))

	code, raw, hdr := do(ctx, http.MethodGet, "http://"+lead.http+"/batch", nil)
	require.Equal(t, http.StatusMethodNotAllowed, code, "%s", raw)
	require.Equal(t, "POST", hdr.Get("Allow"))
}

// TestBatchLimitsAndFailures: a batch body over twice the message size is
// refused, whether it announces its length or not, and a batch whose
// outcome is unknown is never reported as applied.
func TestBatchLimitsAndFailures(t *testing.T) {
	err := fmt.Errorf("%w: %w", consensus.ErrOutcomeUnknown, errors.New("connection reset"))
	a := &api{node: fakeBackend{err: err}, maxKey: testMaxKey, maxValue: testMaxValue, maxMessage: 1024,
		timeout: time.Second, logger: slog.New(slog.DiscardHandler)}
	srv := httptest.NewServer(a.handler())
	t.Cleanup(srv.Close)
	big := `{"ops": [{"op": "put", "key": "a", "value": "` + strings.Repeat("v", 2048) + `"}]}`
	apiCase{"announced", "POST", "/batch", big, false, 413, fmt.Sprintf("batch of %d bytes exceeds the limit of 2048: split it", len(big))}.run(t, srv.URL)
	apiCase{"chunked", "POST", "/batch", big, true, 413, "batch exceeds the limit of 2048 bytes: split it"}.run(t, srv.URL)
	apiCase{"unknown outcome", "POST", "/batch", `{"ops": [{"op": "put", "key": "a", "value": "x"}]}`, false, 504, "outcome unknown"}.run(t, srv.URL)
}
