package cluster

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/conclave-go/conclave/consensus"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// kv is a small replicated map: "set k v" stores, "get k" is a query.
type kv struct {
	mu   sync.Mutex
	data map[string]string
}

func newKV() *kv { return &kv{data: make(map[string]string)} }

func (s *kv) Apply(cmd []byte) ([]byte, error) {
	parts := strings.SplitN(string(cmd), " ", 3)
	if len(parts) != 3 || parts[0] != "set" {
		return nil, fmt.Errorf("bad command %q", cmd)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data[parts[1]] = parts[2]
	return []byte("ok"), nil
}

func (s *kv) Query(q []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return []byte(s.data[string(q)]), nil
}

func (s *kv) get(k string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data[k]
}

func (s *kv) Snapshot() (consensus.Snapshot, error) {
	s.mu.Lock()
	b, err := json.Marshal(s.data)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return consensus.SnapshotFunc{WriteFunc: func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	}}, nil
}

func (s *kv) Restore(r io.Reader) error {
	m := make(map[string]string)
	if err := json.NewDecoder(bufio.NewReader(r)).Decode(&m); err != nil {
		return err
	}
	s.mu.Lock()
	s.data = m
	s.mu.Unlock()
	return nil
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("CONCLAVE_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
}

type testNode struct {
	*Node
	fsm *kv
	dir string
}

// serverConfig returns a local-profile server config on loopback.
func serverConfig(t testing.TB, name, dir string, expect int, seeds ...string) (Config, *kv) {
	fsm := newKV()
	return Config{
		NodeName:   name,
		GossipAddr: "127.0.0.1:0",
		Seeds:      seeds,
		Profile:    ProfileLocal,
		Logger:     testLogger(t),
		Consensus: &ConsensusConfig{
			Addr:            "127.0.0.1:0",
			DataDir:         dir,
			StateMachine:    fsm,
			BootstrapExpect: expect,
		},
	}, fsm
}

func startNode(t testing.TB, cfg Config) *Node {
	t.Helper()
	n, err := New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, n.Start(ctx))
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// startServers starts n servers, each seeded with the first one's gossip
// address, all expecting n servers. Each opt edits every server's config
// before it is built.
func startServers(t testing.TB, count int, opts ...func(*Config)) []*testNode {
	t.Helper()
	var nodes []*testNode
	var seed string
	for i := range count {
		dir := t.TempDir()
		var seeds []string
		if seed != "" {
			seeds = []string{seed}
		}
		cfg, fsm := serverConfig(t, fmt.Sprintf("s%d", i), dir, count, seeds...)
		for _, opt := range opts {
			opt(&cfg)
		}
		n := startNode(t, cfg)
		if seed == "" {
			seed = n.Local().Address()
		}
		nodes = append(nodes, &testNode{Node: n, fsm: fsm, dir: dir})
	}
	return nodes
}

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

// leaderOf waits until every running node agrees on one leader and returns it.
func leaderOf(t testing.TB, nodes []*testNode) *testNode {
	t.Helper()
	var lead *testNode
	waitFor(t, 30*time.Second, func() bool {
		lead = nil
		id := ""
		for _, n := range nodes {
			if !isRunning(n.Node) {
				continue
			}
			l := n.Leader()
			if l.ID == "" || (id != "" && l.ID != id) {
				return false
			}
			id = l.ID
		}
		for _, n := range nodes {
			if n.Name() == id && isRunning(n.Node) {
				lead = n
			}
		}
		return lead != nil
	}, "one agreed leader")
	return lead
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// isRunning reports whether n is started and not closed.
func isRunning(n *Node) bool {
	_, err := n.membership()
	return err == nil
}
