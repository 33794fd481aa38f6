package testkit

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Exec runs a test's process, one run at a time. Each run's stdout and
// stderr go to files of their own in a temporary directory, kept for
// DumpLogs and StderrContains. The zero value is ready to use.
type Exec struct {
	mu     sync.Mutex // guards the fields below
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd has exited
	stderr []string      // the stderr file of every run
}

// stopWait is how long Signal waits for the process to exit before it
// kills it.
const stopWait = 30 * time.Second

// Start starts cmd, whose Stdout and Stderr it sets, and waits until its
// stdout contains ready. It returns an error holding the stderr when the
// process exits first, and kills it when ready does not come within
// timeout.
func (e *Exec) Start(t testing.TB, cmd *exec.Cmd, ready string, timeout time.Duration) error {
	t.Helper()
	dir := t.TempDir()
	outPath, errPath := filepath.Join(dir, "stdout"), filepath.Join(dir, "stderr")
	stdout, err := os.Create(outPath)
	if err != nil {
		t.Fatalf("create %s: %v", outPath, err)
	}
	defer stdout.Close()
	stderr, err := os.Create(errPath)
	if err != nil {
		t.Fatalf("create %s: %v", errPath, err)
	}
	defer stderr.Close()
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	e.mu.Lock()
	e.cmd, e.exited = cmd, exited
	e.stderr = append(e.stderr, errPath)
	e.mu.Unlock()
	return waitReady(exited, outPath, errPath, ready, timeout, e.Kill)
}

// waitReady polls the file at outPath until it contains ready. It fails
// with the stderr when exited closes first, and calls kill when timeout
// passes.
func waitReady(exited <-chan struct{}, outPath, errPath, ready string, timeout time.Duration, kill func()) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-exited:
			errText, _ := os.ReadFile(errPath)
			return fmt.Errorf("exited: %s", errText)
		case <-time.After(2 * PollInterval):
		}
		if out, _ := os.ReadFile(outPath); bytes.Contains(out, []byte(ready)) {
			return nil
		}
		if time.Now().After(deadline) {
			kill()
			return fmt.Errorf("no %q on stdout within %v", ready, timeout)
		}
	}
}

// Process returns the process of the last run, or nil before the first.
func (e *Exec) Process() *os.Process {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cmd == nil {
		return nil
	}
	return e.cmd.Process
}

// Signal sends sig to the process of the last run and waits for it to exit
// (killing it after 30s). It returns how the process ended, or nil before
// the first run.
func (e *Exec) Signal(sig os.Signal) *os.ProcessState {
	e.mu.Lock()
	cmd, exited := e.cmd, e.exited
	e.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(stopWait):
		_ = cmd.Process.Kill()
		<-exited
	}
	return cmd.ProcessState
}

// Kill sends SIGKILL and waits for the process to exit.
func (e *Exec) Kill() { e.Signal(syscall.SIGKILL) }

// StderrContains reports whether the stderr of any run contains s.
func (e *Exec) StderrContains(s string) bool {
	e.mu.Lock()
	paths := append([]string(nil), e.stderr...)
	e.mu.Unlock()
	for _, path := range paths {
		if b, err := os.ReadFile(path); err == nil && strings.Contains(string(b), s) {
			return true
		}
	}
	return false
}

// DumpLogs logs the tail of the stderr of every run, headed by label.
func (e *Exec) DumpLogs(t testing.TB, label string) {
	t.Helper()
	e.mu.Lock()
	paths := append([]string(nil), e.stderr...)
	e.mu.Unlock()
	for _, path := range paths {
		LogTail(t, label, path, 4000)
	}
}
