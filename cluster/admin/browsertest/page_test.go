package browsertest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/cluster"
	"github.com/conclave-go/conclave/cluster/admin"
	"github.com/conclave-go/conclave/cluster/clustertest"
	"github.com/conclave-go/conclave/internal/testkit"
)

// refresh is the page's refresh period in the test, in seconds.
const refresh = 0.5

// chromium returns the browser binary, or skips the test (fails it when
// CONCLAVE_REQUIRE_BROWSER=1).
func chromium(t *testing.T) string {
	t.Helper()
	names := []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}
	if env := os.Getenv("CONCLAVE_CHROMIUM"); env != "" {
		names = []string{env}
	}
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	msg := fmt.Sprintf("no Chromium found (tried %v; Debian: apt-get install chromium)", names)
	if os.Getenv("CONCLAVE_REQUIRE_BROWSER") == "1" {
		t.Fatal(msg + "; CONCLAVE_REQUIRE_BROWSER=1 forbids skipping")
	}
	t.Skip(msg)
	return ""
}

// browser starts a headless Chromium and returns a tab's context.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// Start the browser now (the first call's context is the browser's
	// lifetime, so it takes no timeout), so a broken install fails clearly.
	require.NoError(t, chromedp.Do(ctx), "starting Chromium")
	return ctx
}

// row is one node's row as the page shows it.
type row struct {
	Node    string `json:"node"`
	Verdict string `json:"verdict"` // the row's class: ok, failed, lagging, left
	Text    string `json:"text"`    // the verdict cell's text
	Leader  bool   `json:"leader"`
}

type pageState struct {
	Rows      []row  `json:"rows"`
	Leader    string `json:"leader"`
	Term      string `json:"term"`
	Tolerance string `json:"tolerance"`
	Refreshes int    `json:"refreshes"`
	Error     string `json:"error"`
	Tags      string `json:"tags"`
	Events    string `json:"events"`
}

const readPage = `(() => ({
  rows: [...document.querySelectorAll("#nodes tbody tr")].map(tr => ({
    node: tr.dataset.node, verdict: tr.dataset.verdict,
    text: tr.querySelector("td.verdict").textContent, leader: tr.dataset.leader === "true"})),
  leader: document.getElementById("leader").textContent,
  term: document.getElementById("term").textContent,
  tolerance: document.getElementById("tolerance").textContent,
  refreshes: Number(document.body.dataset.refreshes || 0),
  error: document.getElementById("error").textContent,
  tags: document.querySelector("#nodes tbody").textContent,
  events: document.getElementById("events").textContent,
}))()`

func read(t *testing.T, ctx context.Context) pageState {
	t.Helper()
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := chromedp.Run(rctx, chromedp.Evaluate[pageState](readPage))
	require.NoError(t, err)
	return st
}

func screenshot(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100)) // quality 100: PNG
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, png, 0o644))
	t.Logf("screenshot: %s", path)
	if dir := os.Getenv("CONCLAVE_SCREENSHOT_DIR"); dir != "" {
		require.NoError(t, os.MkdirAll(dir, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), png, 0o644))
	}
	return path
}

// TestStatusPageShowsTheClusterAndAFailure loads the status page of a
// three-server cluster in Chromium, checks it shows the three nodes and the
// leader, kills a server and waits for the page to mark it failed.
func TestStatusPageShowsTheClusterAndAFailure(t *testing.T) {
	ctx := browser(t)
	c := clustertest.New(t, 3, clustertest.WithConfig(func(i int, cfg *cluster.Config) {
		cfg.Tags = map[string]string{"zone": fmt.Sprintf("zone-%c", 'a'+i)}
	}))
	lead := c.WaitLeader()
	h := admin.New(c.Node(lead), admin.Options{})
	t.Cleanup(h.Close)
	mux := http.NewServeMux()
	mux.Handle("/cluster/", http.StripPrefix("/cluster", h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	nctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	require.NoError(t, chromedp.Do(nctx, chromedp.Navigate(fmt.Sprintf("%s/cluster/?refresh=%g", srv.URL, refresh))))

	var st pageState
	testkit.WaitFor(t, 30*time.Second, func() bool {
		st = read(t, ctx)
		if len(st.Rows) != 3 || st.Tolerance != "1" {
			return false
		}
		for _, r := range st.Rows {
			if r.Verdict != "ok" {
				return false
			}
		}
		return true
	}, "three healthy nodes on the page")
	require.Empty(t, st.Error)
	require.Equal(t, c.Name(lead), st.Leader)
	require.NotEqual(t, "–", st.Term)
	for i, r := range st.Rows {
		require.Equal(t, c.Name(i), r.Node)
		require.Equal(t, i == lead, r.Leader, "leader mark on %s", r.Node)
		require.Equal(t, "ok", r.Text)
		require.Contains(t, st.Tags, fmt.Sprintf("zone=zone-%c", 'a'+i))
	}
	screenshot(t, ctx, "status-healthy.png")

	victim := c.Except(lead)[0]
	require.NoError(t, c.Kill(victim))
	killedAt := read(t, ctx).Refreshes
	// Failure detection takes a few seconds; the page must show it within
	// a few refreshes of the handler knowing it.
	testkit.WaitFor(t, 30*time.Second, func() bool {
		st = read(t, ctx)
		for _, r := range st.Rows {
			if r.Node == c.Name(victim) {
				return r.Verdict == "failed"
			}
		}
		return false
	}, "the killed server marked failed")
	t.Logf("marked failed after %d refreshes of %gs", st.Refreshes-killedAt, refresh)
	for _, r := range st.Rows {
		if r.Node == c.Name(victim) {
			require.Contains(t, []string{"FAILED", "UNREACHABLE"}, r.Text)
		}
	}
	testkit.WaitFor(t, 30*time.Second, func() bool {
		st = read(t, ctx)
		return st.Tolerance == "0"
	}, "failure tolerance 0 on the page")
	// Gossip's verdict follows; the event list shows it.
	testkit.WaitFor(t, 30*time.Second, func() bool {
		st = read(t, ctx)
		for _, r := range st.Rows {
			if r.Node == c.Name(victim) && r.Text != "FAILED" {
				return false
			}
		}
		return strings.Contains(st.Events, "member-failed "+c.Name(victim))
	}, "the victim FAILED in gossip and in the events")
	screenshot(t, ctx, "status-failed.png")
}
