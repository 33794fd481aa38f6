package main

import (
	"bufio"
	"errors"
	"fmt"
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

	"github.com/conclave-go/conclave/internal/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// proc is one leader-election process; its stdout lines go to a recorder.
type proc struct {
	t      *testing.T
	rec    *recorder
	name   string
	bin    string
	gossip string
	raft   string
	data   string
	join   []string
	expect int

	gen      int
	instance string // name#gen, new for every start
	cmd      *exec.Cmd
	done     chan struct{} // closed once the process exited and its output was read
	logs     []string
}

func (p *proc) args() []string {
	return []string{
		"-name", p.name, "-gossip", p.gossip, "-raft", p.raft, "-join", strings.Join(p.join, ","),
		"-data", p.data, "-bootstrap-expect", fmt.Sprint(p.expect), "-profile", "local", "-log-level", "info",
	}
}

// Start runs the process until it prints "ready", retrying on fresh ports
// when a port was taken.
func (p *proc) Start() {
	p.t.Helper()
	testkit.RetryStart(p.t, p.name, p.startOnce, func() {
		p.gossip, p.raft = testkit.FreeAddr(p.t), testkit.FreeAddr(p.t)
	})
}

func (p *proc) startOnce() error {
	p.gen++
	p.instance = fmt.Sprintf("%s#%d", p.name, p.gen)
	errPath := filepath.Join(p.t.TempDir(), "stderr")
	stderr, err := os.Create(errPath)
	require.NoError(p.t, err)
	defer stderr.Close()
	p.logs = append(p.logs, errPath)
	cmd := exec.Command(p.bin, p.args()...)
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(p.t, err)
	require.NoError(p.t, cmd.Start())
	ready, done := make(chan struct{}), make(chan struct{})
	p.cmd, p.done = cmd, done
	go p.read(cmd, p.instance, bufio.NewScanner(stdout), ready, done)
	select {
	case <-ready:
		return nil
	case <-done:
		b, _ := os.ReadFile(errPath)
		return fmt.Errorf("exited: %s", b)
	case <-time.After(60 * time.Second):
		p.Kill()
		return errors.New("no ready line within 60s")
	}
}

// read passes every line to the recorder, then waits for the process.
func (p *proc) read(cmd *exec.Cmd, instance string, sc *bufio.Scanner, ready, done chan struct{}) {
	defer close(done)
	var once sync.Once
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "ready ") {
			once.Do(func() { close(ready) })
		}
		p.rec.line(instance, line)
	}
	_ = cmd.Wait()
	p.rec.exited(instance)
}

// Kill sends SIGKILL and waits until the process is gone and its output
// read.
func (p *proc) Kill() { p.signal(syscall.SIGKILL) }

func (p *proc) signal(sig os.Signal) *os.ProcessState {
	if p.cmd == nil {
		return nil
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return p.cmd.ProcessState
}

func (p *proc) DumpLogs() {
	for _, path := range p.logs {
		testkit.LogTail(p.t, p.name+" stderr", path, 6000)
	}
}

func startProcs(t *testing.T, rec *recorder, n int) []*proc {
	bin := testkit.BuildBinary(t, "leader-election")
	procs := make([]*proc, n)
	var seeds []string
	for i := range procs {
		procs[i] = &proc{
			t: t, rec: rec, name: fmt.Sprintf("n%d", i+1), bin: bin,
			gossip: testkit.FreeAddr(t), raft: testkit.FreeAddr(t), data: t.TempDir(), expect: n,
		}
		seeds = append(seeds, procs[i].gossip)
	}
	for _, p := range procs {
		p.join = seeds
	}
	testkit.StartAll(t, procs)
	return procs
}

func procOf(procs []*proc, instance string) *proc {
	for _, p := range procs {
		if p.instance == instance {
			return p
		}
	}
	return nil
}

// TestFailoverAndRestart runs three processes, SIGKILLs the leader, checks
// that one other process takes over in a later term, restarts the killed one
// on its data dir and checks that it follows rather than leads. Throughout,
// no two live processes lead at once.
func TestFailoverAndRestart(t *testing.T) {
	rec := newRecorder()
	procs := startProcs(t, rec, 3)

	var first string
	var term1 uint64
	testkit.WaitFor(t, 60*time.Second, func() bool {
		var ok bool
		first, term1, ok = rec.current()
		return ok && rec.tickCount(term1) >= 3
	}, "one leader running its job")
	require.Len(t, rec.leadsSince(0), 1, "exactly one process led")
	old := procOf(procs, first)
	before := len(rec.leadsSince(0))
	old.Kill()

	var term2 uint64
	testkit.WaitFor(t, 30*time.Second, func() bool {
		var ok bool
		_, term2, ok = rec.current()
		return ok && rec.tickCount(term2) >= 3
	}, "a new leader running its job")
	took := rec.leadsSince(before)
	require.NotEmpty(t, took)
	require.NotEqual(t, old.name, procOf(procs, took[0].instance).name, "a survivor took over")
	require.Greater(t, took[0].term, term1, "the takeover has a later term")
	require.Greater(t, term2, term1)

	old.Start()
	testkit.WaitFor(t, 30*time.Second, func() bool {
		cur, _, ok := rec.current()
		return ok && rec.follows(old.instance) == procOf(procs, cur).name
	}, "the restarted process to follow the leader")
	cur, curTerm, _ := rec.current()
	ticks := rec.tickCount(curTerm)
	testkit.WaitFor(t, 30*time.Second, func() bool { return rec.tickCount(curTerm) >= ticks+5 }, "the leader to keep ticking")
	now, nowTerm, ok := rec.current()
	require.True(t, ok)
	require.Equal(t, cur, now, "leadership stayed put after the restart")
	require.Equal(t, curTerm, nowTerm)
	for _, l := range rec.leadsSince(before) {
		require.NotEqual(t, old.instance, l.instance, "the restarted process must not lead")
	}
	require.Empty(t, rec.problems())

	// A graceful stop ends the job before the process exits.
	leader := procOf(procs, now)
	st := leader.signal(syscall.SIGTERM)
	require.Equal(t, 0, st.ExitCode())
	require.True(t, rec.stopped(now, nowTerm), "the leader printed that it stopped leading before it exited")
	require.Empty(t, rec.problems())
}
