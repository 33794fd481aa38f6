package server

import (
	"encoding/json"
	"github.com/conclave-go/conclave/consensus"

	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/testkit"
)

// These tests run the procedures of the README's "Operating a cluster"
// section as an operator types them, against kvstore processes. Fixed
// addresses and paths in the commands are mapped to free ports and
// temporary directories; `go run ./examples/kvstore` is the built binary.
// A curl command is repeated until it succeeds (the operator would retry)
// and, when a comment gives its expected output, until it prints that.

// readmeBlocks returns the command lines of each sh block under heading in
// the Markdown file path, with continued lines joined.
func readmeBlocks(t *testing.T, path, heading string) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	_, sec, ok := strings.Cut(string(b), "\n"+heading+"\n")
	require.True(t, ok, "%s has no %q", path, heading)
	if i := regexp.MustCompile(`\n##+ `).FindStringIndex(sec); i != nil {
		sec = sec[:i[0]]
	}
	var out [][]string
	for _, part := range strings.Split(sec, "```sh\n")[1:] {
		block, _, _ := strings.Cut(part, "```")
		block = strings.ReplaceAll(block, "\\\n", " ")
		var cmds []string
		for _, line := range strings.Split(block, "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				cmds = append(cmds, line)
			}
		}
		out = append(out, cmds)
	}
	require.NotEmpty(t, out, "%s: no commands under %q", path, heading)
	return out
}

// readmeCommands returns the command lines of every sh block under heading.
func readmeCommands(t *testing.T, path, heading string) []string {
	var out []string
	for _, b := range readmeBlocks(t, path, heading) {
		out = append(out, b...)
	}
	return out
}

// operator runs README commands.
type readmeOp struct {
	t     *testing.T
	bin   string
	dir   string // working directory: backup files land here
	ports map[string]string
	procs map[string]*proc
}

func newOperator(t *testing.T) *readmeOp {
	o := &readmeOp{t: t, bin: buildKvstore(t), dir: t.TempDir(), ports: map[string]string{}, procs: map[string]*proc{}}
	t.Cleanup(func() {
		for _, p := range o.procs {
			p.Kill()
			if t.Failed() {
				p.DumpLogs()
			}
		}
	})
	return o
}

var (
	addrRE = regexp.MustCompile(`(127\.0\.0\.1|localhost):(\d+)`)
	dataRE = regexp.MustCompile(`/tmp/kv/(\w+)`)
	fileRE = regexp.MustCompile(`\bbackup\.snap\b`)
)

// local maps the fixed addresses and paths of a command to this test's.
func (o *readmeOp) local(cmd string) string {
	cmd = addrRE.ReplaceAllStringFunc(cmd, func(a string) string {
		port := addrRE.FindStringSubmatch(a)[2]
		if _, ok := o.ports[port]; !ok {
			o.ports[port] = testkit.FreeAddr(o.t)
		}
		return o.ports[port]
	})
	cmd = dataRE.ReplaceAllStringFunc(cmd, func(d string) string {
		return filepath.Join(o.dir, "data", dataRE.FindStringSubmatch(d)[1])
	})
	return fileRE.ReplaceAllString(cmd, filepath.Join(o.dir, "backup.snap"))
}

// url returns the local URL of a README address such as "localhost:8001".
func (o *readmeOp) url(addr, path string) string { return "http://" + o.local(addr) + path }

// run runs one README command line.
func (o *readmeOp) run(line string) {
	o.t.Helper()
	cmd, want, _ := strings.Cut(line, "  #")
	cmd, want = o.local(strings.TrimSpace(cmd)), strings.TrimSpace(want)
	o.t.Logf("$ %s", line)
	switch {
	case strings.HasPrefix(cmd, "go run ./examples/kvstore "):
		o.start(strings.Fields(strings.TrimPrefix(cmd, "go run ./examples/kvstore ")))
	case strings.HasPrefix(cmd, "curl "):
		var out []byte
		var err error
		testkit.WaitFor(o.t, 60*time.Second, func() bool {
			c := exec.Command("sh", "-c", cmd)
			c.Dir = o.dir
			out, err = c.Output()
			return err == nil && (want == "" || strings.TrimSpace(string(out)) == want)
		}, "%s: want %q, last got %q (%v)", line, want, out, err)
	default:
		o.t.Fatalf("not an operator command: %s", line)
	}
}

// start runs a kvstore process with args and waits for it to serve.
func (o *readmeOp) start(args []string) *proc {
	o.t.Helper()
	name := ""
	for i, a := range args {
		if a == "-name" && i+1 < len(args) {
			name = args[i+1]
		}
	}
	require.NotEmpty(o.t, name, "kvstore command without -name: %v", args)
	if old := o.procs[name]; old != nil {
		old.Kill()
	}
	p := &proc{t: o.t, name: name, bin: o.bin, raw: args}
	o.procs[name] = p
	require.NoError(o.t, p.startOnce())
	return p
}

// stop sends SIGTERM (Ctrl-C's path) to a node and waits for it to exit.
func (o *readmeOp) stop(name string) { o.procs[name].signal(syscall.SIGTERM) }

// lose kills a node and deletes its data directory: the machine is gone.
func (o *readmeOp) lose(name string) {
	o.procs[name].Kill()
	require.NoError(o.t, os.RemoveAll(o.local("/tmp/kv/"+name)))
}

// startExampleCluster starts n1, n2, n3 as the kvstore README does.
func (o *readmeOp) startExampleCluster() {
	for _, line := range readmeCommands(o.t, "../README.md", "## Run three nodes") {
		o.run(line)
	}
}

// put writes key=value through addr, retrying while no leader is known.
func (o *readmeOp) put(addr, key, value string) {
	o.t.Helper()
	testkit.WaitFor(o.t, 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		code, _, _ := do(ctx, http.MethodPut, o.url(addr, "/kv/"+key), []byte(value))
		return code == http.StatusNoContent
	}, "PUT %s via %s", key, addr)
}

// get reads key through addr, linearizably: status and value.
func (o *readmeOp) get(addr, key string) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code, body, _ := do(ctx, http.MethodGet, o.url(addr, "/kv/"+key), nil)
	return code, string(body)
}

func TestReadmeRecoverFromLostQuorum(t *testing.T) {
	o := newOperator(t)
	o.startExampleCluster()
	o.put("localhost:8001", "greeting", "hello")
	for i := range 20 {
		o.put(fmt.Sprintf("localhost:800%d", i%3+1), fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i))
	}
	// n3 holds every acknowledged write: a linearizable read there says so.
	code, v := o.get("localhost:8003", "k19")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "v19", v)
	o.lose("n1")
	o.lose("n2")
	o.stop("n3")

	blocks := readmeBlocks(t, "../../../README.md", "### Recovering from a lost quorum")
	require.Len(t, blocks, 3)
	for _, line := range append(blocks[0], blocks[1]...) {
		o.run(line)
	}
	for _, addr := range []string{"localhost:8003", "localhost:8004", "localhost:8005"} {
		for i := range 20 {
			code, v := o.get(addr, fmt.Sprintf("k%d", i))
			require.Equal(t, http.StatusOK, code, "k%d via %s", i, addr)
			require.Equal(t, fmt.Sprintf("v%d", i), v, "k%d via %s", i, addr)
		}
	}
	o.put("localhost:8005", "after", "recovery")

	// Recovery refuses the data directory of a running server.
	p := &proc{t: t, name: "again", bin: o.bin, raw: []string{
		"-name", "n3", "-gossip", testkit.FreeAddr(t), "-raft", o.local("127.0.0.1:7103"), "-http", testkit.FreeAddr(t),
		"-data", o.local("/tmp/kv/n3"), "-profile", "local", "-recover-self",
	}}
	err := p.startOnce()
	require.ErrorContains(t, err, "data dir in use")
}

// Five servers lose three; both survivors are recovered with one list.
func TestReadmeRecoverSeveralSurvivors(t *testing.T) {
	o := newOperator(t)
	for i := 1; i <= 5; i++ {
		o.run(fmt.Sprintf("go run ./examples/kvstore -name n%d -gossip 127.0.0.1:700%d -raft 127.0.0.1:710%d -http 127.0.0.1:800%d "+
			"-join 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003,127.0.0.1:7004,127.0.0.1:7005 -bootstrap-expect 5 -data /tmp/kv/n%d -profile local",
			i, i, i, i, i))
	}
	o.put("localhost:8001", "greeting", "hello")
	for i := range 20 {
		o.put(fmt.Sprintf("localhost:800%d", i%5+1), fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i))
	}
	for _, addr := range []string{"localhost:8004", "localhost:8005"} { // both hold every acknowledged write
		code, v := o.get(addr, "k19")
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, "v19", v)
	}
	o.lose("n1")
	o.lose("n2")
	o.lose("n3")
	o.stop("n4")
	o.stop("n5")

	blocks := readmeBlocks(t, "../../../README.md", "### Recovering from a lost quorum")
	for _, line := range blocks[2] {
		o.run(line)
	}
	for _, addr := range []string{"localhost:8004", "localhost:8005"} {
		for i := range 20 {
			code, v := o.get(addr, fmt.Sprintf("k%d", i))
			require.Equal(t, http.StatusOK, code, "k%d via %s", i, addr)
			require.Equal(t, fmt.Sprintf("v%d", i), v, "k%d via %s", i, addr)
		}
	}
	o.put("localhost:8004", "after", "recovery")
}

func TestReadmeBackupAndRestore(t *testing.T) {
	o := newOperator(t)
	o.startExampleCluster()
	o.put("localhost:8001", "greeting", "hello")
	for i := range 20 {
		o.put(fmt.Sprintf("localhost:800%d", i%3+1), fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i))
	}
	cmds := readmeCommands(t, "../../../README.md", "### Backup and restore")
	require.Contains(t, cmds[0], "/cluster/snapshot")
	o.run(cmds[0])
	backup, err := os.ReadFile(filepath.Join(o.dir, "backup.snap"))
	require.NoError(t, err)

	// A bad deploy: writes the backup must undo.
	o.put("localhost:8002", "greeting", "oops")
	o.put("localhost:8002", "bad", "deploy")

	// Bad files are refused with the reason, and nothing changes. They are
	// sent to a follower, which forwards them to the leader.
	follower := ""
	testkit.WaitFor(t, 30*time.Second, func() bool {
		for _, addr := range []string{"localhost:8001", "localhost:8002", "localhost:8003"} {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			code, body, _ := do(ctx, http.MethodGet, o.url(addr, "/cluster/leader"), nil)
			cancel()
			var l struct {
				IsLeader *bool `json:"is_leader"`
			}
			if code == http.StatusOK && json.Unmarshal(body, &l) == nil && l.IsLeader != nil && !*l.IsLeader {
				follower = addr
				return true
			}
		}
		return false
	}, "a follower")
	for name, data := range map[string][]byte{
		"truncated": backup[:len(backup)/2],
		"corrupted": append(append(bytes.Clone(backup[:60]), backup[60]^0xff), backup[61:]...),
		"foreign":   []byte("PK\x03\x04 this is a zip file, or so it says, and certainly not a backup"),
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		code, body, _ := do(ctx, http.MethodPost, o.url(follower, "/cluster/restore"), data)
		cancel()
		require.Equal(t, http.StatusBadRequest, code, "%s: %s", name, body)
		require.Contains(t, string(body), "bad snapshot", name)
		code, v := o.get("localhost:8001", "greeting")
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, "oops", v, "%s changed nothing", name)
	}

	// Restore into the running cluster, then seed a fresh one.
	for _, line := range cmds[1:] {
		if strings.Contains(line, "-name m1 ") {
			for _, n := range []string{"n1", "n2", "n3"} {
				code, v := o.get(fmt.Sprintf("localhost:800%s", n[1:]), "greeting")
				require.Equal(t, http.StatusOK, code)
				require.Equal(t, "hello", v, "%s rolled back", n)
				code, _ = o.get(fmt.Sprintf("localhost:800%s", n[1:]), "bad")
				require.Equal(t, http.StatusNotFound, code, "%s: the bad deploy's write is gone", n)
			}
		}
		o.run(line)
	}
	for _, addr := range []string{"localhost:8011", "localhost:8012", "localhost:8013"} {
		for i := range 20 {
			code, v := o.get(addr, fmt.Sprintf("k%d", i))
			require.Equal(t, http.StatusOK, code, "k%d via %s", i, addr)
			require.Equal(t, fmt.Sprintf("v%d", i), v, "k%d via %s", i, addr)
		}
		code, _ := o.get(addr, "bad")
		require.Equal(t, http.StatusNotFound, code, "via %s", addr)
	}

	// -restore refuses a data directory that holds data.
	m1 := o.procs["m1"]
	m1.signal(syscall.SIGTERM)
	err = m1.startOnce()
	require.ErrorContains(t, err, "already holds data")
}

func TestOperationFlags(t *testing.T) {
	base := []string{"-name", "n1", "-data", t.TempDir(), "-raft", "10.0.0.1:7950"}
	for _, c := range []struct {
		args []string
		err  string
	}{
		{[]string{"-recover-self", "-restore", "f"}, "exclude each other"},
		{[]string{"-recover", "n1=10.0.0.1:7950", "-recover-self"}, "exclude each other"},
		{[]string{"-recover", "n2=10.0.0.2:7950"}, "must include this node (n1=10.0.0.1:7950)"},
		{[]string{"-recover", "n1=10.0.0.1:7950,n1=10.0.0.2:7950"}, "n1 listed twice"},
		{[]string{"-recover", "n1"}, `"n1" is not name=host:port`},
		{[]string{"-recover", "n1=nowhere"}, `n1: "nowhere" is not host:port`},
		{[]string{"-restore", "f"}, "give -bootstrap-expect 1"},
		{[]string{"-recover-self", "-raft", "0.0.0.0:7950"}, "binds every interface"},
	} {
		_, err := parseFlags(append(append([]string{}, base...), c.args...), io.Discard)
		require.ErrorContains(t, err, c.err, "%v", c.args)
		var u *UsageError
		require.ErrorAs(t, err, &u)
	}
	o, err := parseFlags(append(base, "-recover", "n1=10.0.0.1:7950, n2=10.0.0.2:7950"), io.Discard)
	require.NoError(t, err)
	servers, err := o.ops.servers(o)
	require.NoError(t, err)
	require.Len(t, servers, 2)

	// -recover-self on a wildcard bind takes the advertised address.
	o, err = parseFlags([]string{"-name", "n1", "-data", t.TempDir(), "-gossip", "0.0.0.0:7946", "-raft", "0.0.0.0:7950",
		"-advertise", "10.0.0.9", "-recover-self"}, io.Discard)
	require.NoError(t, err)
	servers, err = o.ops.servers(o)
	require.NoError(t, err)
	require.Equal(t, []consensus.Server{{Name: "n1", Addr: "10.0.0.9:7950"}}, servers)
}

// -restore checks the file before anything starts.
func TestRestoreFlagRefusesABadFile(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.snap")
	require.NoError(t, os.WriteFile(bad, []byte("CNCLSNAP\x01 but cut short"), 0o600))
	data := filepath.Join(t.TempDir(), "data")
	err := Run(context.Background(), []string{
		"-name", "m1", "-gossip", "127.0.0.1:0", "-raft", "127.0.0.1:0", "-http", "127.0.0.1:0",
		"-data", data, "-bootstrap-expect", "1", "-profile", "local", "-restore", bad,
	}, io.Discard, io.Discard)
	require.ErrorContains(t, err, "-restore: consensus: bad snapshot: truncated header")
	_, statErr := os.Stat(data)
	require.ErrorIs(t, statErr, os.ErrNotExist, "nothing was created")
}
