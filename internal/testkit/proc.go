package testkit

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// BuildBinary compiles the command in the current directory into a
// temporary directory and returns the binary's path.
func BuildBinary(t testing.TB, name string) string {
	t.Helper()
	return BuildPackage(t, name, ".")
}

// BuildPackage compiles the command pkg (an import path, or a path relative
// to the current directory) of the current module into a temporary directory
// as name and returns the binary's path.
func BuildPackage(t testing.TB, name, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v: %s", pkg, err, out)
	}
	return bin
}

// FreeAddr returns a loopback address whose port was just free for both TCP
// and UDP. Another process may take it before it is used: callers retry a
// start that failed to bind (see RetryStart).
func FreeAddr(t testing.TB) string {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
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

// RetryStart calls start until it succeeds. When it fails because an
// address was taken, it calls rebind to pick fresh addresses and tries
// again, up to five more times; any other failure fails t.
func RetryStart(t testing.TB, what string, start func() error, rebind func()) {
	t.Helper()
	for attempt := 0; ; attempt++ {
		err := start()
		if err == nil {
			return
		}
		if !strings.Contains(err.Error(), "address already in use") || attempt == 5 {
			t.Fatalf("start %s: %v", what, err)
		}
		rebind()
	}
}

// LogTail logs the last max bytes of the file at path, headed by label.
func LogTail(t testing.TB, label, path string, max int) {
	t.Helper()
	b, _ := os.ReadFile(path)
	if len(b) > max {
		b = b[len(b)-max:]
	}
	t.Logf("--- %s %s:\n%s", label, path, b)
}

// Process is a process a test runs.
type Process interface {
	Start()    // runs the process until it is ready, failing the test otherwise
	Kill()     // stops the process and waits for it to exit
	DumpLogs() // logs what the process wrote
}

// StartAll starts procs in order. A cleanup kills them all when the test
// ends, after logging their output if the test failed.
func StartAll[P Process](t testing.TB, procs []P) {
	t.Helper()
	t.Cleanup(func() {
		for _, p := range procs {
			p.Kill()
			if t.Failed() {
				p.DumpLogs()
			}
		}
	})
	for _, p := range procs {
		p.Start()
	}
}
