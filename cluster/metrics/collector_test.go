package metrics_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/cluster"
	"github.com/conclave-go/conclave/cluster/clustertest"
	"github.com/conclave-go/conclave/cluster/metrics"
	"github.com/conclave-go/conclave/internal/testkit"
)

// families is every metric family the collector reports on a server whose
// group state exists.
var families = []string{
	"conclave_membership_members", "conclave_membership_events_total",
	"conclave_membership_events_dropped_total", "conclave_membership_subscriptions",
	"conclave_membership_rejoin_attempts_total", "conclave_membership_reconnect_attempts_total",
	"conclave_membership_metadata_bytes",
	"conclave_membership_streams", "conclave_membership_stream_limit", "conclave_membership_streams_refused_total",
	"conclave_raft_term", "conclave_raft_commit_index", "conclave_raft_applied_index",
	"conclave_raft_last_log_index", "conclave_raft_last_contact_seconds", "conclave_raft_is_leader",
	"conclave_raft_leader_changes_total", "conclave_raft_apply_duration_seconds",
	"conclave_raft_forwarded_apply_duration_seconds", "conclave_raft_read_duration_seconds",
	"conclave_raft_forward_batch_commands", "conclave_raft_outcome_unknown_errors_total",
	"conclave_raft_no_leader_errors_total", "conclave_raft_snapshots_total",
	"conclave_raft_snapshot_failures_total", "conclave_raft_snapshot_duration_seconds",
	"conclave_raft_snapshot_size_bytes",
	"conclave_raft_port_connections", "conclave_raft_port_connection_limit", "conclave_raft_port_refused_total",
	"conclave_raft_port_evicted_total", "conclave_raft_port_idle_closed_total",
	"conclave_cluster_voters", "conclave_cluster_healthy_voters", "conclave_cluster_nonvoters",
	"conclave_cluster_failure_tolerance", "conclave_cluster_health_age_seconds",
	"conclave_cluster_reconcile_changes_total", "conclave_cluster_reconcile_failures_total",
	"conclave_cluster_bootstrap_state",
}

// scraper serves one node's registry over HTTP, as a host would.
type scraper struct {
	srv *httptest.Server
}

func newScraper(t *testing.T, c *metrics.Collector) *scraper {
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	t.Cleanup(srv.Close)
	return &scraper{srv: srv}
}

func (s *scraper) raw(t *testing.T) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(testkit.Context(t, 10*time.Second), http.MethodGet, s.srv.URL, nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "text/plain") // the text format, as promtool reads it
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	return body
}

func (s *scraper) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := p.TextToMetricFamilies(bytes.NewReader(s.raw(t)))
	require.NoError(t, err)
	return mf
}

// value returns the value of the family's series whose labels include
// want, and whether there is one: a gauge's or counter's value, a
// histogram's count.
func value(mf map[string]*dto.MetricFamily, name string, want ...string) (float64, bool) {
	f := mf[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(want); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				found = found || (l.GetName() == want[i] && l.GetValue() == want[i+1])
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

func TestScrapeOfThreeServersMovesWithTheCluster(t *testing.T) {
	c := clustertest.New(t, 3)
	c.WaitLeader()
	scrapers := make([]*scraper, c.Len())
	for i := range scrapers {
		scrapers[i] = newScraper(t, metrics.NewCollector(c.Node(i)))
	}
	gauge := func(i int, name string, labels ...string) float64 {
		t.Helper()
		v, ok := value(scrapers[i].scrape(t), name, labels...)
		require.True(t, ok, "%s%v on node %d", name, labels, i)
		return v
	}
	lead := -1 // found from the scrapes: leadership may move on a loaded machine
	testkit.WaitFor(t, 30*time.Second, func() bool {
		for i := range scrapers {
			mf := scrapers[i].scrape(t)
			leader, _ := value(mf, "conclave_raft_is_leader")
			healthy, _ := value(mf, "conclave_cluster_healthy_voters")
			if leader == 1 && healthy == 3 {
				lead = i
				return true
			}
		}
		return false
	}, "a leader that sees three healthy voters")
	mf := scrapers[lead].scrape(t)
	for _, name := range families {
		require.Contains(t, mf, name)
		for _, m := range mf[name].GetMetric() {
			require.Equal(t, c.Name(lead), labelOf(m, "node"), name)
		}
	}
	require.Equal(t, 1.0, gauge(lead, "conclave_raft_is_leader"))
	require.Equal(t, 1.0, gauge(lead, "conclave_cluster_failure_tolerance"))
	require.Equal(t, 3.0, gauge(lead, "conclave_membership_members", "status", "alive"))
	require.Equal(t, 1.0, gauge(lead, "conclave_cluster_bootstrap_state", "state", "done"))
	require.Equal(t, 1024.0, gauge(lead, "conclave_raft_port_connection_limit", "scope", "total"))
	require.Equal(t, 512.0, gauge(lead, "conclave_raft_port_connection_limit", "scope", "per_ip"))
	require.Positive(t, gauge(lead, "conclave_raft_port_connections"), "the followers' Raft connections")
	require.Equal(t, 512.0, gauge(lead, "conclave_membership_stream_limit", "scope", "total"))

	// Writes raise the apply counts: on the leader its own, on a follower
	// the forwarded ones and the batches that carried them.
	follower := c.Except(lead)[0]
	before := gauge(lead, "conclave_raft_apply_duration_seconds")
	beforeFwd := gauge(follower, "conclave_raft_forwarded_apply_duration_seconds")
	beforeRead := gauge(follower, "conclave_raft_read_duration_seconds", "level", "linearizable")
	ctx := testkit.Context(t, 20*time.Second)
	for i := range 5 {
		require.NoError(t, clustertest.Put(ctx, c.Node(lead), "k", string(rune('a'+i))))
		require.NoError(t, clustertest.Put(ctx, c.Node(follower), "f", string(rune('a'+i))))
	}
	_, _, err := clustertest.Get(ctx, c.Node(follower), 0, "k")
	require.NoError(t, err)
	require.Equal(t, before+5, gauge(lead, "conclave_raft_apply_duration_seconds"))
	require.Equal(t, beforeFwd+5, gauge(follower, "conclave_raft_forwarded_apply_duration_seconds"))
	require.Positive(t, gauge(follower, "conclave_raft_forward_batch_commands"))
	require.Greater(t, gauge(follower, "conclave_raft_read_duration_seconds", "level", "linearizable"), beforeRead)
	require.Positive(t, gauge(follower, "conclave_raft_applied_index"))

	// A killed follower drops the healthy voters and the failure tolerance.
	victim := c.Except(lead)[1]
	require.NoError(t, c.Kill(victim))
	testkit.WaitFor(t, 30*time.Second, func() bool {
		mf := scrapers[lead].scrape(t)
		healthy, _ := value(mf, "conclave_cluster_healthy_voters")
		tolerance, _ := value(mf, "conclave_cluster_failure_tolerance")
		return healthy == 2 && tolerance == 0
	}, "two healthy voters and no failure tolerance on the leader")

	// A killed leader raises the survivor's leader changes.
	changes := gauge(follower, "conclave_raft_leader_changes_total")
	require.NoError(t, c.Restart(victim))
	testkit.WaitFor(t, 30*time.Second, func() bool {
		v, _ := value(scrapers[lead].scrape(t), "conclave_cluster_healthy_voters")
		return v == 3
	}, "three healthy voters again")
	require.NoError(t, c.Kill(lead))
	testkit.WaitFor(t, 30*time.Second, func() bool {
		v, _ := value(scrapers[follower].scrape(t), "conclave_raft_leader_changes_total")
		return v > changes
	}, "a leader change seen by a survivor")
}

func labelOf(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// TestPromtoolFindsNoProblem lints a scrape of a running server with
// `promtool check metrics` (Debian's prometheus package).
func TestPromtoolFindsNoProblem(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CONCLAVE_REQUIRE_PROMTOOL") == "1" {
			t.Fatal("promtool not installed (Debian package prometheus), and CONCLAVE_REQUIRE_PROMTOOL=1 forbids skipping: ", err)
		}
		t.Skip("promtool not installed (Debian package prometheus): ", err)
	}
	c := clustertest.New(t, 1)
	c.WaitLeader()
	s := newScraper(t, metrics.NewCollector(c.Node(0)))
	testkit.WaitFor(t, 20*time.Second, func() bool {
		_, ok := value(s.scrape(t), "conclave_cluster_voters")
		return ok
	}, "the cluster gauges")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(s.raw(t))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "promtool check metrics:\n%s", out)
	require.Empty(t, strings.TrimSpace(string(out)), "promtool check metrics reported problems")
}

// TestCollectorBeforeStart gathers from a node that has not started: it
// reports what exists and does not block.
func TestCollectorBeforeStart(t *testing.T) {
	n, err := cluster.New(cluster.Config{Name: "idle", BindAddr: "127.0.0.1:0"})
	require.NoError(t, err)
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(metrics.NewCollector(n)))
	mf, err := reg.Gather()
	require.NoError(t, err)
	require.NotEmpty(t, mf)
}

// BenchmarkScrape gathers and encodes the metrics of a three-server
// cluster, as one Prometheus scrape of a process holding all three would.
func BenchmarkScrape(b *testing.B) {
	c := clustertest.New(b, 3)
	c.WaitLeader()
	reg := prometheus.NewRegistry()
	for _, n := range c.Nodes() {
		reg.MustRegister(metrics.NewCollector(n))
	}
	for b.Loop() {
		mfs, err := reg.Gather()
		if err != nil {
			b.Fatal(err)
		}
		enc := expfmt.NewEncoder(io.Discard, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				b.Fatal(err)
			}
		}
	}
}
