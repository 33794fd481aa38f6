package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/testkit"
)

func TestParseWrk(t *testing.T) {
	report := strings.Join([]string{
		"Running 2s test @ http://127.0.0.1:8080",
		"  2 threads and 32 connections",
		"  Thread Stats   Avg      Stdev     Max   +/- Stdev",
		"    Latency     4.12ms    1.02ms  20.00ms   80.00%",
		"    Req/Sec     3.90k   200.00     4.20k    70.00%",
		"  Latency Distribution",
		"     50%  812.00us",
		"     75%    4.50ms",
		"     90%    5.00ms",
		"     99%    1.20s",
		"  15600 requests in 2.00s, 1.20MB read",
		"  Socket errors: connect 1, read 2, write 0, timeout 3",
		"  Non-2xx or 3xx responses: 5",
		"Requests/sec:   7800.00",
		"Transfer/sec:    600.00KB",
	}, "\n")
	r, err := parseWrk(report)
	require.NoError(t, err)
	require.Equal(t, 11, r.Errors, "socket errors and non-2xx responses")
	require.Equal(t, 15600-11, r.Ops)
	require.Equal(t, 2*time.Second, r.Elapsed)
	require.Equal(t, 812*time.Microsecond, r.P50)
	require.Equal(t, 1200*time.Millisecond, r.P99)
	require.ErrorContains(t, r.FirstErr, "5 responses")

	_, err = parseWrk("Running 2s test @ http://127.0.0.1:8080\n  100 requests in 2.00s, 1KB read\n")
	require.ErrorContains(t, err, "without a request count or latency distribution")
	_, err = parseWrk("  Latency Distribution\n     50%    4.00xs\n")
	require.ErrorContains(t, err, `"4.00xs"`)
}

func TestLuaStringKeepsEveryByte(t *testing.T) {
	require.Equal(t, `[[a"b]]`, luaString(`a"b`))
	require.Equal(t, `[=[x]]y]=]`, luaString(`x]]y`), "a closing bracket pair inside takes a longer level")
	require.Equal(t, `[==[x]]y]=]z]==]`, luaString(`x]]y]=]z`))
}

// recorder is an HTTP server that records each request it is sent.
type recorder struct {
	mu   sync.Mutex
	reqs []string // "METHOD PATH?QUERY CONTENT-TYPE BODY"
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, fmt.Sprintf("%s %s %s %s", r.Method, r.URL.RequestURI(), r.Header.Get("Content-Type"), body))
	rec.mu.Unlock()
	w.WriteHeader(http.StatusCreated)
}

func (rec *recorder) seen() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]string(nil), rec.reqs...)
}

// recorderSystem is a system of one node, the recorder, whose write puts
// the key in both the path and the body.
func recorderSystem(t *testing.T) (*PeerSystem, *recorder) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return &PeerSystem{
		Name: "recorder", URLs: []string{srv.URL}, group: &procGroup{}, client: srv.Client(),
		ops: map[string]reqTemplate{
			PeerWrite: newTemplate(http.MethodPost, "text/plain", "/w/"+keyMark+"?x=1", "<"+keyMark+">", statusIs(http.StatusCreated)),
			PeerStale: newTemplate(http.MethodGet, "", "/r/"+keyMark, "", statusIs(http.StatusOK)),
		},
	}, rec
}

func TestPeerSystemSendsTheKeyInPathAndBody(t *testing.T) {
	s, rec := recorderSystem(t)
	ctx := context.Background()
	require.NoError(t, s.Op(PeerWrite)(ctx, 0, 5))
	require.Equal(t, []string{"POST /w/k5?x=1 text/plain <k5>"}, rec.seen())
	require.ErrorContains(t, s.Op(PeerStale)(ctx, 0, 1), "status 201", "a status the template does not accept is an error")
	require.True(t, s.Supports(PeerStale))
	require.False(t, s.Supports(PeerLinearizable))
}

func TestPreloadWritesEveryKeyOnce(t *testing.T) {
	s, rec := recorderSystem(t)
	require.NoError(t, s.preload(context.Background()))
	seen := map[string]bool{}
	for _, r := range rec.seen() {
		require.False(t, seen[r], "written twice: %s", r)
		seen[r] = true
	}
	require.Len(t, seen, keySpace)
	require.True(t, seen["POST /w/k4095?x=1 text/plain <k4095>"])
}

func TestWrkScriptSendsTheTemplate(t *testing.T) {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		testkit.Unavailable(t, "wrk not found (Debian's wrk package)")
	}
	s, rec := recorderSystem(t)
	script, err := wrkScript(t.TempDir(), "write", s.ops[PeerWrite])
	require.NoError(t, err)
	r, err := runWrk(context.Background(), wrk, script, s.URLs[0], 2, time.Second)
	require.NoError(t, err)
	require.Positive(t, r.Ops)
	require.Zero(t, r.Errors)
	seen := rec.seen()
	require.GreaterOrEqual(t, len(seen), r.Ops)
	require.Contains(t, seen, "POST /w/k1?x=1 text/plain <k1>")
	require.Contains(t, seen, "POST /w/k2?x=1 text/plain <k2>", "each request takes the next key")
}

func TestRotate(t *testing.T) {
	xs := []int{1, 2, 3}
	require.Equal(t, []int{2, 3, 1}, rotate(xs, 1))
	require.Equal(t, []int{1, 2, 3}, rotate(xs, 3))
	require.Equal(t, []int{1, 2, 3}, xs)
}
