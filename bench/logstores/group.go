package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"time"

	"github.com/conclave-go/conclave/bench"
	"github.com/conclave-go/conclave/consensus"
)

// group is a consensus group of servers in this process on loopback, each
// with a data directory of its own, all on one log store.
type group struct {
	nodes []*consensus.Node
	sms   []*kv
	cfgs  []consensus.Config
}

// startGroup starts servers nodes in dir/n0, dir/n1, ... on store,
// bootstraps them together and waits until the leader has applied a
// command.
func startGroup(ctx context.Context, dir string, servers int, store consensus.LogStoreConfig, profile consensus.Profile) (*group, error) {
	g := &group{}
	for i := range servers {
		name := fmt.Sprintf("n%d", i)
		cfg := consensus.Config{
			Name:     name,
			BindAddr: "127.0.0.1:0",
			DataDir:  filepath.Join(dir, name),
			LogStore: store,
			Profile:  profile,
		}
		g.cfgs = append(g.cfgs, cfg)
	}
	if err := g.start(ctx); err != nil {
		return nil, err
	}
	return g, nil
}

// start starts every server on its config with a fresh state machine, and
// bootstraps those without state.
func (g *group) start(ctx context.Context) error {
	g.nodes, g.sms = nil, nil
	for i := range g.cfgs {
		sm := newKV()
		g.cfgs[i].StateMachine = sm
		n, err := consensus.New(g.cfgs[i])
		if err == nil {
			err = n.Start(ctx)
		}
		if err != nil {
			return errors.Join(err, g.close())
		}
		g.nodes, g.sms = append(g.nodes, n), append(g.sms, sm)
		// A restart binds the same address: it is in the configuration.
		g.cfgs[i].BindAddr = n.Addr()
	}
	var servers []consensus.Server
	for _, n := range g.nodes {
		servers = append(servers, consensus.Server{Name: n.Name(), Addr: n.Addr()})
	}
	for _, n := range g.nodes {
		err := n.Bootstrap(ctx, servers)
		if err != nil && !errors.Is(err, consensus.ErrAlreadyBootstrapped) {
			return errors.Join(err, g.close())
		}
	}
	if err := g.waitReady(ctx); err != nil {
		return errors.Join(err, g.close())
	}
	return nil
}

// restart closes every server and starts them again on their data
// directories.
func (g *group) restart(ctx context.Context) error {
	if err := g.close(); err != nil {
		return err
	}
	return g.start(ctx)
}

// leader returns the index of the server that leads, or -1.
func (g *group) leader() int {
	for i, n := range g.nodes {
		if l := n.Leader(); l.Name != "" && l.Name == n.Name() {
			return i
		}
	}
	return -1
}

// readyKey is the key waitReady writes, apart from the load's keys.
const readyKey = ^uint64(0)

// waitReady waits until a leader has applied a command.
func (g *group) waitReady(ctx context.Context) error {
	for {
		if l := g.leader(); l >= 0 {
			actx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := g.nodes[l].Apply(actx, bench.Command(readyKey, 8))
			cancel()
			if err == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("logstores: group not ready: %w", ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// close closes every server.
func (g *group) close() error {
	var errs []error
	for _, n := range g.nodes {
		errs = append(errs, n.Close())
	}
	g.nodes = nil
	return errors.Join(errs...)
}

// kv is the replicated state: the first 8 bytes of a command built by
// bench.Command (the key) map to the rest of it. The load bounds the keys.
type kv struct {
	mu   sync.RWMutex // guards data
	data map[uint64][]byte
}

var _ consensus.StateMachine = (*kv)(nil)

func newKV() *kv { return &kv{data: make(map[uint64][]byte)} }

func (s *kv) Apply(cmd []byte) ([]byte, error) {
	if len(cmd) < 8 {
		return nil, errors.New("logstores: command shorter than its key")
	}
	s.mu.Lock()
	s.data[binary.LittleEndian.Uint64(cmd)] = cmd[8:]
	s.mu.Unlock()
	return nil, nil
}

func (s *kv) get(key uint64) ([]byte, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.data[key]
	return v, ok
}

func (s *kv) Snapshot() (consensus.Snapshot, error) {
	s.mu.RLock()
	view := make(map[uint64][]byte, len(s.data))
	for k, v := range s.data {
		view[k] = v // values are never modified in place
	}
	s.mu.RUnlock()
	return consensus.SnapshotFunc{WriteFunc: func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		var hdr [16]byte
		for k, v := range view {
			binary.LittleEndian.PutUint64(hdr[:8], k)
			binary.LittleEndian.PutUint64(hdr[8:], uint64(len(v)))
			if _, err := bw.Write(hdr[:]); err != nil {
				return err
			}
			if _, err := bw.Write(v); err != nil {
				return err
			}
		}
		return bw.Flush()
	}}, nil
}

// maxValue bounds a value read back from a snapshot.
const maxValue = 1 << 20

func (s *kv) Restore(r io.Reader) error {
	br := bufio.NewReader(r)
	data := make(map[uint64][]byte)
	var hdr [16]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return err
		}
		n := binary.LittleEndian.Uint64(hdr[8:])
		if n > maxValue {
			return fmt.Errorf("logstores: snapshot value of %d bytes", n)
		}
		v := make([]byte, n)
		if _, err := io.ReadFull(br, v); err != nil {
			return err
		}
		data[binary.LittleEndian.Uint64(hdr[:8])] = v
	}
	s.mu.Lock()
	s.data = data
	s.mu.Unlock()
	return nil
}
