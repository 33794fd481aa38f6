package server

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/conclave-go/conclave/internal/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// buildKvstore builds the kvstore command, the main package that runs this
// one, and returns the binary's path.
func buildKvstore(t testing.TB) string {
	t.Helper()
	return testkit.BuildPackage(t, "kvstore", "github.com/conclave-go/conclave/examples/kvstore")
}

// proc is one kvstore process. Its output goes to files in a temporary
// directory, which the test prints when it fails.
type proc struct {
	t      testing.TB
	name   string
	bin    string
	gossip string
	raft   string
	http   string
	data   string
	join   []string
	extra  []string
	// command builds the process's command; nil runs bin directly.
	command func(bin string, args ...string) *exec.Cmd
	raw     []string // when set, the whole command line (addresses fixed)

	run testkit.Exec
}

func (p *proc) args() []string {
	if p.raw != nil {
		return p.raw
	}
	return append([]string{
		"-name", p.name, "-gossip", p.gossip, "-raft", p.raft, "-http", p.http,
		"-join", strings.Join(p.join, ","), "-data", p.data, "-profile", "local",
	}, p.extra...)
}

// Start runs the process and waits until it prints its serving line. When it
// exits first because a port was taken, it retries on fresh ports.
func (p *proc) Start() {
	p.t.Helper()
	testkit.RetryStart(p.t, p.name, p.startOnce, func() {
		p.gossip, p.raft, p.http = testkit.FreeAddr(p.t), testkit.FreeAddr(p.t), testkit.FreeAddr(p.t)
	})
}

func (p *proc) startOnce() error {
	newCmd := exec.Command
	if p.command != nil {
		newCmd = p.command
	}
	return p.run.Start(p.t, newCmd(p.bin, p.args()...), "kvstore: serving", 60*time.Second)
}

// Kill sends SIGKILL and waits for the process to exit.
func (p *proc) Kill() { p.run.Kill() }

// signal sends sig and waits for the process to exit.
func (p *proc) signal(sig os.Signal) *os.ProcessState { return p.run.Signal(sig) }

// DumpLogs prints the tail of every stderr the process wrote.
func (p *proc) DumpLogs() { p.run.DumpLogs(p.t, p.name) }

// startCluster starts n processes that bootstrap together, each with the
// extra flags given.
func startCluster(t *testing.T, bin string, n int, extra ...string) []*proc {
	procs := make([]*proc, n)
	var seeds []string
	for i := range procs {
		procs[i] = &proc{
			t: t, name: fmt.Sprintf("n%d", i+1), bin: bin,
			gossip: testkit.FreeAddr(t), raft: testkit.FreeAddr(t), http: testkit.FreeAddr(t), data: t.TempDir(),
			extra: []string{
				"-bootstrap-expect", fmt.Sprint(n),
				// Snapshot often, so restarts restore from a snapshot.
				"-snapshot-threshold", "8", "-snapshot-interval", "100ms",
			},
		}
		procs[i].extra = append(procs[i].extra, extra...)
		seeds = append(seeds, procs[i].gossip)
	}
	for _, p := range procs {
		p.join = seeds
	}
	testkit.StartAll(t, procs)
	return procs
}

// httpClient is used by every test request; its timeout exceeds the
// server's request timeout. Without keep-alives no connection outlives its
// request, so goleak sees no idle connection goroutines.
var httpClient = &http.Client{
	Timeout:   30 * time.Second,
	Transport: &http.Transport{DisableKeepAlives: true},
}

// do sends one request and returns the status and body; a transport error
// is status 0.
func do(ctx context.Context, method, url string, body []byte) (int, []byte, http.Header) {
	return testkit.HTTPDo(ctx, httpClient, method, url, body)
}
