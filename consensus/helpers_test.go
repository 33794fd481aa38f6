package consensus

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/conclave-go/conclave/internal/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// kvFSM is the test state machine: a string map.
//
//	"set:key=value"  sets key, returns the previous value
//	"err:message"    returns an error with that message
//	"echo:x"         returns "echo:x"
//	"block:"         waits for gate to close
//	query "get:key"  returns the value
type kvFSM struct {
	mu       sync.RWMutex
	data     map[string]string
	applied  atomic.Int64
	restores atomic.Int64
	// restoreReads counts Read calls on the restore stream; restoreMaxRead
	// is the largest single read, to check the stream is not one buffer.
	restoreReads   atomic.Int64
	restoreMaxRead atomic.Int64
	// gate, when set, holds "block:" commands until it is closed.
	gate chan struct{}
	// seen counts the "echo:" and "err:" commands applied, by command.
	seen map[string]int
}

func newKV() *kvFSM { return &kvFSM{data: make(map[string]string), seen: make(map[string]int)} }

func (f *kvFSM) Apply(cmd []byte) ([]byte, error) {
	f.applied.Add(1)
	op, arg, _ := strings.Cut(string(cmd), ":")
	if op == "echo" || op == "err" {
		f.mu.Lock()
		f.seen[string(cmd)]++
		f.mu.Unlock()
	}
	switch op {
	case "echo":
		return cmd, nil
	case "set":
		k, v, _ := strings.Cut(arg, "=")
		f.mu.Lock()
		prev := f.data[k]
		f.data[k] = v
		f.mu.Unlock()
		return []byte(prev), nil
	case "err":
		return nil, errors.New(arg)
	case "block":
		if f.gate != nil {
			<-f.gate
		}
		return []byte("unblocked"), nil
	default:
		return nil, fmt.Errorf("unknown op %q", op)
	}
}

func (f *kvFSM) Query(q []byte) ([]byte, error) {
	op, k, _ := strings.Cut(string(q), ":")
	if op != "get" {
		return nil, fmt.Errorf("unknown query %q", op)
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	v, ok := f.data[k]
	if !ok {
		return nil, fmt.Errorf("no key %q", k)
	}
	return []byte(v), nil
}

func (f *kvFSM) get(k string) (string, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	v, ok := f.data[k]
	return v, ok
}

// seenCounts returns a copy of seen.
func (f *kvFSM) seenCounts() map[string]int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return maps.Clone(f.seen)
}

func (f *kvFSM) Snapshot() (Snapshot, error) {
	f.mu.RLock()
	view := maps.Clone(f.data)
	f.mu.RUnlock()
	return SnapshotFunc{WriteFunc: func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		for k, v := range view {
			for _, s := range []string{k, v} {
				if err := binary.Write(bw, binary.BigEndian, uint32(len(s))); err != nil {
					return err
				}
				if _, err := bw.WriteString(s); err != nil {
					return err
				}
			}
		}
		return bw.Flush()
	}}, nil
}

func (f *kvFSM) Restore(r io.Reader) error {
	f.restores.Add(1)
	br := bufio.NewReaderSize(countingReader{r: r, f: f}, 16<<10)
	data := make(map[string]string)
	for {
		var kv [2]string
		for i := range kv {
			var n uint32
			if err := binary.Read(br, binary.BigEndian, &n); err != nil {
				if i == 0 && errors.Is(err, io.EOF) {
					f.mu.Lock()
					f.data = data
					f.mu.Unlock()
					return nil
				}
				return err
			}
			b := make([]byte, n)
			if _, err := io.ReadFull(br, b); err != nil {
				return err
			}
			kv[i] = string(b)
		}
		data[kv[0]] = kv[1]
	}
}

type countingReader struct {
	r io.Reader
	f *kvFSM
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.f.restoreReads.Add(1)
	for {
		cur := c.f.restoreMaxRead.Load()
		if int64(n) <= cur || c.f.restoreMaxRead.CompareAndSwap(cur, int64(n)) {
			break
		}
	}
	return n, err
}

// testCluster is a group of in-process nodes on loopback.
type testCluster struct {
	t     testing.TB
	nodes []*Node
	fsms  []*kvFSM
	cfgs  []Config
}

// clusterOpt adjusts each node's config.
type clusterOpt func(i int, c *Config)

func testConfig(t testing.TB, id string, fsm StateMachine) Config {
	cfg := Config{
		Name:         id,
		BindAddr:     "127.0.0.1:0",
		DataDir:      t.TempDir(),
		StateMachine: fsm,
		Profile:      ProfileLocal,
		Logger:       testkit.Logger(t),
	}
	return cfg
}

// newCluster starts n nodes and bootstraps them as voters.
func newCluster(t testing.TB, n int, opts ...clusterOpt) *testCluster {
	t.Helper()
	c := &testCluster{t: t}
	for i := range n {
		fsm := newKV()
		cfg := testConfig(t, fmt.Sprintf("n%d", i), fsm)
		for _, o := range opts {
			o(i, &cfg)
		}
		c.fsms = append(c.fsms, fsm)
		c.cfgs = append(c.cfgs, cfg)
		c.nodes = append(c.nodes, c.start(cfg))
	}
	t.Cleanup(c.closeAll)
	var servers []Server
	for _, nd := range c.nodes {
		servers = append(servers, Server{Name: nd.Name(), Addr: nd.Addr()})
	}
	for i, nd := range c.nodes {
		require.NoError(t, nd.Bootstrap(context.Background(), servers))
		// Later restarts keep the same address.
		c.cfgs[i].BindAddr = nd.Addr()
	}
	c.waitReadyLeader()
	return c
}

func (c *testCluster) start(cfg Config) *Node {
	c.t.Helper()
	nd, err := New(cfg)
	require.NoError(c.t, err)
	require.NoError(c.t, nd.Start(context.Background()))
	return nd
}

func (c *testCluster) closeAll() {
	for _, nd := range c.nodes {
		if nd != nil {
			_ = nd.Close()
		}
	}
}

// leader returns the index of the node that leads and is ready for
// linearizable reads, or -1.
func (c *testCluster) leader() int {
	for i, nd := range c.nodes {
		if nd == nil || nd.usable() != nil {
			continue
		}
		if nd.Status().State == StateLeader && nd.lead.readyTerm.Load() == nd.raft.CurrentTerm() {
			return i
		}
	}
	return -1
}

func (c *testCluster) waitReadyLeader() int {
	c.t.Helper()
	var l int
	testkit.WaitFor(c.t, 20*time.Second, func() bool { l = c.leader(); return l >= 0 }, "a ready leader")
	return l
}

// follower returns the index of a live node that is not the leader.
func (c *testCluster) follower() int {
	l := c.waitReadyLeader()
	for i, nd := range c.nodes {
		if i != l && nd != nil && nd.usable() == nil {
			return i
		}
	}
	c.t.Fatal("no follower")
	return -1
}

// apply applies an idempotent command through node i, retrying while the
// outcome is unknown (a leader change during the call).
func (c *testCluster) apply(ctx context.Context, i int, cmd string) []byte {
	c.t.Helper()
	for {
		res, err := c.nodes[i].Apply(ctx, []byte(cmd))
		if errors.Is(err, ErrOutcomeUnknown) && ctx.Err() == nil {
			continue
		}
		require.NoError(c.t, err, "apply %q on node %d", cmd, i)
		return res
	}
}
