package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft-wal/metadb"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/conclave-go/conclave/internal/testkit"
	"github.com/conclave-go/conclave/raftwal"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// node is one kvstore process of these tests.
type node struct {
	t      *testing.T
	bin    string
	name   string
	gossip string
	raft   string
	http   string
	data   string
	join   []string
	args   []string // after the addresses
	run    testkit.Exec
}

func (n *node) commandLine() []string {
	return append([]string{
		"-name", n.name, "-gossip", n.gossip, "-raft", n.raft, "-http", n.http,
		"-join", strings.Join(n.join, ","), "-data", n.data, "-profile", "local",
	}, n.args...)
}

// Start runs the process until it serves, on fresh ports when one was
// taken.
func (n *node) Start() {
	n.t.Helper()
	testkit.RetryStart(n.t, n.name, func() error {
		return n.run.Start(n.t, exec.Command(n.bin, n.commandLine()...), "kvstore: serving", 60*time.Second)
	}, func() {
		n.gossip, n.raft, n.http = testkit.FreeAddr(n.t), testkit.FreeAddr(n.t), testkit.FreeAddr(n.t)
	})
}

func (n *node) Kill()     { n.run.Kill() }
func (n *node) DumpLogs() { n.run.DumpLogs(n.t, n.name) }

// startNodes starts n processes of bin that bootstrap together, each with
// the flags given.
func startNodes(t *testing.T, bin string, count int, args ...string) []*node {
	nodes := make([]*node, count)
	var seeds []string
	for i := range nodes {
		nodes[i] = &node{
			t: t, bin: bin, name: fmt.Sprintf("n%d", i+1), data: t.TempDir(),
			gossip: testkit.FreeAddr(t), raft: testkit.FreeAddr(t), http: testkit.FreeAddr(t),
			args: append([]string{"-bootstrap-expect", fmt.Sprint(count)}, args...),
		}
		seeds = append(seeds, nodes[i].gossip)
	}
	for _, n := range nodes {
		n.join = seeds
	}
	testkit.StartAll(t, nodes)
	return nodes
}

// client sends the tests' requests; without keep-alives no connection
// outlives its request.
var client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// request sends one request; a transport error is status 0.
func request(method, url string, body []byte) (int, string) {
	status, b, _ := testkit.HTTPDo(context.Background(), client, method, url, body)
	return status, string(b)
}

// put writes key through n until it is acknowledged. It sends the same
// value again after 503 (no leader), 504 (outcome unknown) or a broken
// connection, which is safe for a put.
func put(t *testing.T, n *node, key, value string) {
	t.Helper()
	var code int
	var body string
	testkit.WaitFor(t, 60*time.Second, func() bool {
		code, body = request(http.MethodPut, "http://"+n.http+"/kv/"+key, []byte(value))
		if code != 0 && code != http.StatusServiceUnavailable && code != http.StatusGatewayTimeout && code != http.StatusNoContent {
			t.Fatalf("PUT %s via %s: %d %s", key, n.name, code, body)
		}
		return code == http.StatusNoContent
	}, "PUT %s via %s acknowledged (last: %d %s)", key, n.name, code, body)
}

// waitValues waits until n reads every key of want at consistency (stale:
// its own copy).
func waitValues(t *testing.T, n *node, consistency string, want map[string]string) {
	t.Helper()
	for key, value := range want {
		var code int
		var body string
		testkit.WaitFor(t, 60*time.Second, func() bool {
			code, body = request(http.MethodGet, "http://"+n.http+"/kv/"+key+"?consistency="+consistency, nil)
			return code == http.StatusOK && body == value
		}, "%s to read %s=%q at %s (last: %d %q)", n.name, key, value, consistency, code, body)
	}
}

// follower returns a node that knows the leader and is not it.
func follower(t *testing.T, nodes []*node) *node {
	t.Helper()
	var found *node
	testkit.WaitFor(t, 60*time.Second, func() bool {
		for _, n := range nodes {
			code, body := request(http.MethodGet, "http://"+n.http+"/cluster/leader", nil)
			var st struct {
				IsLeader bool `json:"is_leader"`
				Leader   struct {
					Name string `json:"name"`
				} `json:"leader"`
			}
			if code == http.StatusOK && json.Unmarshal([]byte(body), &st) == nil && !st.IsLeader && st.Leader.Name != "" {
				found = n
				return true
			}
		}
		return false
	}, "a follower that knows the leader")
	return found
}

// requireWALDir checks that dir holds raft-wal's files, recorded as its
// store, and no bolt log.
func requireWALDir(t *testing.T, dir string) {
	t.Helper()
	record, err := os.ReadFile(filepath.Join(dir, "logstore"))
	require.NoError(t, err)
	require.Equal(t, raftwal.Name, strings.TrimSpace(string(record)))
	require.FileExists(t, filepath.Join(dir, raftwal.Dir, metadb.FileName))
	segments, err := filepath.Glob(filepath.Join(dir, raftwal.Dir, "*.wal"))
	require.NoError(t, err)
	require.NotEmpty(t, segments, "raft-wal's segment files in %s", filepath.Join(dir, raftwal.Dir))
	require.NoFileExists(t, filepath.Join(dir, "raft.db"))
}

// Three processes on raft-wal: writes through a follower are kept; a node
// SIGKILLed and restarted on its data dir catches up; after SIGKILL of all
// three, every write is still there, read back from their data dirs.
func TestThreeNodesOnRaftWAL(t *testing.T) {
	bin := testkit.BuildBinary(t, "kvstore-wal")
	nodes := startNodes(t, bin, 3, "-log-store", "wal", "-snapshot-threshold", "16", "-snapshot-interval", "100ms")
	want := map[string]string{}
	via := follower(t, nodes)
	for i := range 40 {
		key, value := fmt.Sprintf("a%d", i), fmt.Sprintf("v%d-via-%s", i, via.name)
		put(t, via, key, value)
		want[key] = value
	}

	// A follower killed while the others take writes catches up on restart.
	down := follower(t, nodes)
	down.Kill()
	var up []*node
	for _, n := range nodes {
		if n != down {
			up = append(up, n)
		}
	}
	for i := range 40 {
		key, value := fmt.Sprintf("b%d", i), fmt.Sprintf("w%d", i)
		put(t, up[i%2], key, value)
		want[key] = value
	}
	down.Start()
	waitValues(t, down, "stale", want)

	// The whole group crashes and comes back from its data dirs.
	for _, n := range nodes {
		n.Kill()
	}
	for _, n := range nodes {
		n.Start()
	}
	for _, n := range nodes {
		waitValues(t, n, "linearizable", want)
	}
	put(t, follower(t, nodes), "after-restart", "yes")
	for _, n := range nodes {
		requireWALDir(t, n.data)
	}
}

// A data dir created with -log-store wal refuses bolt, in this build and
// in the main module's, with an error that names the flag.
func TestLogStoreMismatch(t *testing.T) {
	bin := testkit.BuildBinary(t, "kvstore-wal")
	solo := startNodes(t, bin, 1, "-log-store", "wal")[0]
	put(t, solo, "k", "v")
	solo.Kill()

	plain := testkit.BuildPackage(t, "kvstore", "github.com/conclave-go/conclave/examples/kvstore")
	for _, c := range []struct {
		bin, hint string
	}{
		{bin, "start the node with -log-store wal, or move its log to bolt with consensus.MigrateLogStore"},
		{plain, "; this kvstore is built without wal: use the kvstore of the raftwal module"},
	} {
		solo.args = []string{"-log-store", "bolt"}
		out, err := exec.Command(c.bin, solo.commandLine()...).CombinedOutput()
		var exit *exec.ExitError
		require.True(t, errors.As(err, &exit), "%s: %v: %s", c.bin, err, out)
		require.Equal(t, 1, exit.ExitCode(), "%s", out)
		require.Contains(t, string(out), "kvstore: -log-store bolt: "+solo.data+" was created with -log-store wal")
		require.Contains(t, string(out), c.hint)
	}
	requireWALDir(t, solo.data)
}

// -h lists wal beside bolt.
func TestHelpOffersWAL(t *testing.T) {
	bin := testkit.BuildBinary(t, "kvstore-wal")
	out, _ := exec.Command(bin, "-h").CombinedOutput()
	require.Contains(t, string(out), "Raft log store: bolt, wal (default bolt)")
	require.NotContains(t, string(out), "in the kvstore of the raftwal module")
}
