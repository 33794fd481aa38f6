package cluster

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/internal/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testkit.LeakOptions()...)
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

type testNode struct {
	*Node
	fsm *kv
	dir string
}

// serverConfig returns a local-profile server config on loopback.
func serverConfig(t testing.TB, name, dir string, expect int, seeds ...string) (Config, *kv) {
	fsm := newKV()
	return Config{
		Name:     name,
		BindAddr: "127.0.0.1:0",
		Seeds:    seeds,
		Profile:  ProfileLocal,
		Logger:   testkit.Logger(t),
		Consensus: &ConsensusConfig{
			BindAddr:        "127.0.0.1:0",
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
// address, all expecting n servers; opts adjust every server's config.
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
		for _, o := range opts {
			o(&cfg)
		}
		n := startNode(t, cfg)
		if seed == "" {
			seed = n.Local().Address()
		}
		nodes = append(nodes, &testNode{Node: n, fsm: fsm, dir: dir})
	}
	return nodes
}

// followerIndex returns the index of the first node that is not lead.
func followerIndex(nodes []*testNode, lead *testNode) int {
	for i, n := range nodes {
		if n != lead {
			return i
		}
	}
	panic("every node is the leader")
}

// leaderOf waits until every running node agrees on one leader and returns it.
func leaderOf(t testing.TB, nodes []*testNode) *testNode {
	t.Helper()
	var lead *testNode
	testkit.WaitFor(t, 30*time.Second, func() bool {
		lead = nil
		id := ""
		for _, n := range nodes {
			if !isRunning(n.Node) {
				continue
			}
			l := n.Leader()
			if l.Name == "" || (id != "" && l.Name != id) {
				return false
			}
			id = l.Name
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

// isRunning reports whether n is started and not closed.
func isRunning(n *Node) bool {
	_, err := n.membership()
	return err == nil
}
