package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitFor polls cond every 20ms until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for "+format, append([]any{timeout}, args...)...)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// buildBinary compiles the package's command into a temporary directory.
func buildBinary(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "kvstore")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// freeAddr returns a loopback address whose port was just free for both TCP
// and UDP. Another process may take it before it is used: callers retry a
// start that failed to bind.
func freeAddr(t testing.TB) string {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().String()
		pc, err := net.ListenPacket("udp", addr)
		l.Close()
		if err == nil {
			pc.Close()
			return addr
		}
	}
	t.Fatal("no free port for TCP and UDP")
	return ""
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

	mu     sync.Mutex // guards cmd and exited
	cmd    *exec.Cmd
	exited chan struct{}
	logs   []string
}

func (p *proc) args() []string {
	return append([]string{
		"-name", p.name, "-gossip", p.gossip, "-raft", p.raft, "-http", p.http,
		"-join", strings.Join(p.join, ","), "-data", p.data, "-profile", "local",
	}, p.extra...)
}

// start runs the process and waits until it prints its serving line. When it
// exits first because a port was taken, it retries on fresh ports.
func (p *proc) start() {
	p.t.Helper()
	for attempt := 0; ; attempt++ {
		err := p.startOnce()
		if err == nil {
			return
		}
		if !strings.Contains(err.Error(), "address already in use") || attempt == 5 {
			p.t.Fatalf("start %s: %v", p.name, err)
		}
		p.gossip, p.raft, p.http = freeAddr(p.t), freeAddr(p.t), freeAddr(p.t)
	}
}

func (p *proc) startOnce() error {
	dir := p.t.TempDir()
	outPath, errPath := filepath.Join(dir, "stdout"), filepath.Join(dir, "stderr")
	stdout, err := os.Create(outPath)
	require.NoError(p.t, err)
	stderr, err := os.Create(errPath)
	require.NoError(p.t, err)
	cmd := exec.Command(p.bin, p.args()...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	require.NoError(p.t, cmd.Start())
	stdout.Close()
	stderr.Close()
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.logs = append(p.logs, errPath)
	p.mu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-exited:
			errText, _ := os.ReadFile(errPath)
			return fmt.Errorf("exited: %s", errText)
		case <-time.After(20 * time.Millisecond):
		}
		out, _ := os.ReadFile(outPath)
		if bytes.Contains(out, []byte("kvstore: serving")) {
			return nil
		}
		if time.Now().After(deadline) {
			p.kill()
			return errors.New("no serving line within 60s")
		}
	}
}

// kill sends SIGKILL and waits for the process to exit.
func (p *proc) kill() {
	p.signal(syscall.SIGKILL)
}

// signal sends sig and waits for the process to exit.
func (p *proc) signal(sig os.Signal) *os.ProcessState {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
	return cmd.ProcessState
}

// dumpLogs prints the tail of every stderr the process wrote.
func (p *proc) dumpLogs() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, path := range p.logs {
		b, _ := os.ReadFile(path)
		if len(b) > 4000 {
			b = b[len(b)-4000:]
		}
		p.t.Logf("--- %s %s:\n%s", p.name, path, b)
	}
}

// startCluster starts n processes that bootstrap together.
func startCluster(t *testing.T, bin string, n int) []*proc {
	procs := make([]*proc, n)
	var seeds []string
	for i := range procs {
		procs[i] = &proc{
			t: t, name: fmt.Sprintf("n%d", i+1), bin: bin,
			gossip: freeAddr(t), raft: freeAddr(t), http: freeAddr(t), data: t.TempDir(),
			extra: []string{
				"-bootstrap-expect", fmt.Sprint(n),
				// Snapshot often, so restarts restore from a snapshot.
				"-snapshot-threshold", "8", "-snapshot-interval", "100ms",
			},
		}
		seeds = append(seeds, procs[i].gossip)
	}
	t.Cleanup(func() {
		for _, p := range procs {
			p.kill()
			if t.Failed() {
				p.dumpLogs()
			}
		}
	})
	for _, p := range procs {
		p.join = seeds
		p.start()
	}
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
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return 0, []byte(err.Error()), nil
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error()), nil
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.Bytes(), resp.Header
}
