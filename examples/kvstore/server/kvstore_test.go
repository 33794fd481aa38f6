package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/testkit"
)

// writer issues writes against a set of processes and remembers which were
// acknowledged.
type writer struct {
	t       *testing.T
	acked   map[string]string // key → value of every 204 PUT
	deleted map[string]bool   // keys whose DELETE was acknowledged
	unknown map[string]bool   // keys with a write of unknown outcome
}

func newWriter(t *testing.T) *writer {
	return &writer{t: t, acked: map[string]string{}, deleted: map[string]bool{}, unknown: map[string]bool{}}
}

// write sends method to p, retrying while the answer is 503 (no leader) or
// the connection fails before the request was sent, for up to 30s. 204 is
// recorded as acknowledged, 504 as unknown.
func (w *writer) write(p *proc, method, key, value string) {
	w.t.Helper()
	url := "http://" + p.http + "/kv/" + key
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		code, body, _ := do(ctx, method, url, []byte(value))
		cancel()
		switch code {
		case http.StatusNoContent:
			if method == http.MethodDelete {
				delete(w.acked, key)
				w.deleted[key] = true
			} else {
				w.acked[key] = value
			}
			return
		case http.StatusGatewayTimeout:
			w.unknown[key] = true
			return
		case http.StatusServiceUnavailable:
		default:
			w.t.Fatalf("%s %s via %s: %d %s", method, key, p.name, code, body)
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("%s %s via %s: still %d after 30s: %s", method, key, p.name, code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// nodeStatus is the part of /cluster/leader the test reads.
type nodeStatus struct {
	IsLeader bool   `json:"is_leader"`
	Term     uint64 `json:"term"`
	Leader   struct {
		Name string `json:"name"`
	} `json:"leader"`
}

func statusOf(p *proc) (nodeStatus, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code, body, _ := do(ctx, http.MethodGet, "http://"+p.http+"/cluster/leader", nil)
	var st nodeStatus
	return st, code == http.StatusOK && json.Unmarshal(body, &st) == nil
}

func waitReady(t *testing.T, procs ...*proc) {
	t.Helper()
	for _, p := range procs {
		testkit.WaitFor(t, 60*time.Second, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			code, _, _ := do(ctx, http.MethodGet, "http://"+p.http+"/readyz", nil)
			return code == http.StatusOK
		}, "%s ready", p.name)
	}
}

// leaderProc waits until a process reports itself leader and returns it.
func leaderProc(t *testing.T, procs []*proc) *proc {
	t.Helper()
	var lead *proc
	testkit.WaitFor(t, 30*time.Second, func() bool {
		for _, p := range procs {
			if st, ok := statusOf(p); ok && st.IsLeader {
				lead = p
				return true
			}
		}
		return false
	}, "a leader")
	return lead
}

// TestKillLeaderKeepsAcknowledgedWrites runs three kvstore processes, writes
// through each, SIGKILLs the leader, keeps writing through the others,
// restarts it on its data dir, and reads every acknowledged write back
// linearizably from every node.
func TestKillLeaderKeepsAcknowledgedWrites(t *testing.T) {
	bin := buildKvstore(t)
	procs := startCluster(t, bin, 3)
	waitReady(t, procs...)

	w := newWriter(t)
	for i := range 12 {
		p := procs[i%3]
		w.write(p, http.MethodPut, fmt.Sprintf("before-%d", i), fmt.Sprintf("v%d-via-%s", i, p.name))
	}
	w.write(procs[1], http.MethodDelete, "before-0", "")

	lead := leaderProc(t, procs)
	before, _ := statusOf(lead)
	lead.Kill()
	var rest []*proc
	for _, p := range procs {
		if p != lead {
			rest = append(rest, p)
		}
	}
	for i := range 20 {
		p := rest[i%2]
		w.write(p, http.MethodPut, fmt.Sprintf("after-%d", i), fmt.Sprintf("w%d-via-%s", i, p.name))
	}
	w.write(rest[0], http.MethodDelete, "before-1", "")
	next := leaderProc(t, rest)
	after, _ := statusOf(next)
	require.Greater(t, after.Term, before.Term, "the new leader leads a later term")

	lead.Start()
	waitReady(t, lead)
	w.write(lead, http.MethodPut, "after-restart", "back")

	for _, p := range procs {
		checkReads(t, p, w)
	}
	t.Logf("acknowledged %d writes, %d deletes, %d of unknown outcome", len(w.acked), len(w.deleted), len(w.unknown))
}

// checkReads reads every acknowledged key from p linearizably.
func checkReads(t *testing.T, p *proc, w *writer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for key, want := range w.acked {
		if w.unknown[key] {
			continue
		}
		code, body, _ := do(ctx, http.MethodGet, "http://"+p.http+"/kv/"+key+"?consistency=linearizable", nil)
		require.Equal(t, http.StatusOK, code, "GET %s via %s: %s", key, p.name, body)
		require.Equal(t, want, string(body), "GET %s via %s", key, p.name)
	}
	for key := range w.deleted {
		if w.unknown[key] {
			continue
		}
		code, body, _ := do(ctx, http.MethodGet, "http://"+p.http+"/kv/"+key, nil)
		require.Equal(t, http.StatusNotFound, code, "GET deleted %s via %s: %s", key, p.name, body)
	}
}

// TestBinaryExitCodes checks that a bad command line exits with status 2,
// -log-store wal too in this build, and that SIGTERM shuts a node down cleanly with status 0.
func TestBinaryExitCodes(t *testing.T) {
	bin := buildKvstore(t)
	out, err := exec.Command(bin, "-name", "x").CombinedOutput()
	var exitErr *exec.ExitError
	require.ErrorAs(t, err, &exitErr)
	require.Equal(t, 2, exitErr.ExitCode())
	require.Contains(t, string(out), "-data is required")
	out, err = exec.Command(bin, "-name", "x", "-data", t.TempDir(), "-log-store", "wal").CombinedOutput()
	require.ErrorAs(t, err, &exitErr)
	require.Equal(t, 2, exitErr.ExitCode(), "raft-wal is not in this build: a usage error")
	require.Contains(t, string(out), "(cd raftwal && go build -o kvstore-wal ./cmd/kvstore)")

	p := &proc{
		t: t, name: "solo", bin: bin, gossip: testkit.FreeAddr(t), raft: testkit.FreeAddr(t), http: testkit.FreeAddr(t),
		data: t.TempDir(), extra: []string{"-bootstrap-expect", "1"},
	}
	t.Cleanup(p.Kill)
	p.Start()
	waitReady(t, p)
	st := p.signal(syscall.SIGTERM)
	require.NotNil(t, st)
	require.Equal(t, 0, st.ExitCode(), "clean exit on SIGTERM")
}
