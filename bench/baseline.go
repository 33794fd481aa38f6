package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/conclave-go/conclave/consensus"
)

// BoltOptions are the storage variants the baseline can run with, to
// measure what each is worth. The zero value is raft-boltdb's default, as a
// hand-wired service gets it from raftboltdb.NewBoltStore.
type BoltOptions struct {
	// NoFreelistSync skips writing bolt's freelist on every commit (it is
	// rebuilt by scanning the file when it is opened).
	NoFreelistSync bool
	// FreelistMap uses bolt's hashmap freelist instead of the array one.
	FreelistMap bool
	// NoSync skips fsync altogether. It is unsafe (an acknowledged write
	// can be lost in a crash); it is measured only as the ceiling that
	// storage durability puts on write latency.
	NoSync bool
	// LogCache puts raft's LogCache of this many entries in front of the
	// log store, as Conclave does (512). Zero means none.
	LogCache int
}

// String names the variant for tables.
func (o BoltOptions) String() string {
	s := "bolt"
	if o.NoFreelistSync {
		s += "+nofreelistsync"
	}
	if o.FreelistMap {
		s += "+freelistmap"
	}
	if o.NoSync {
		s += "+nosync"
	}

	if o.LogCache > 0 {
		s += fmt.Sprintf("+logcache%d", o.LogCache)
	}
	return s
}

// BaselineOptions configure a hand-wired hashicorp/raft group.
type BaselineOptions struct {
	// Dir holds one data directory per server. Required.
	Dir string
	// Servers is the group size; zero means 3.
	Servers int
	// Bolt selects storage options.
	Bolt BoltOptions
	// NoPipelining replicates with one AppendEntries in flight per
	// follower (NetworkTransportConfig.MaxRPCsInFlight 1), as Conclave does.
	NoPipelining bool
	// Tune, when set, edits each server's raft.DefaultConfig() before use.
	Tune func(*raft.Config)
	// Stores, when set, opens a server's log and stable stores in dir
	// instead of bolt (Bolt is then ignored), to measure other log stores.
	// The returned closer closes them.
	Stores func(dir string) (raft.LogStore, raft.StableStore, io.Closer, error)
}

// Baseline is a group of hashicorp/raft servers wired by hand on loopback:
// raft.NewTCPTransport, raft-boltdb on disk, a file snapshot store and
// raft.DefaultConfig, bootstrapped by the first server with the full
// configuration. It is what a service gets without Conclave.
type Baseline struct {
	nodes []*baseNode
}

type baseNode struct {
	raft  *raft.Raft
	trans *raft.NetworkTransport
	store io.Closer
	kv    *kv
}

// StartBaseline starts the group and waits until a leader has applied a
// first command.
func StartBaseline(ctx context.Context, o BaselineOptions) (*Baseline, error) {
	if o.Servers == 0 {
		o.Servers = 3
	}
	b := &Baseline{}
	for i := range o.Servers {
		n, err := startBaseNode(filepath.Join(o.Dir, fmt.Sprintf("raft-%d", i)), i, o)
		if err != nil {
			_ = b.Close()
			return nil, err
		}
		b.nodes = append(b.nodes, n)
	}
	var conf raft.Configuration
	for i, n := range b.nodes {
		conf.Servers = append(conf.Servers, raft.Server{
			ID: baseID(i), Address: n.trans.LocalAddr(),
		})
	}
	if err := b.nodes[0].raft.BootstrapCluster(conf).Error(); err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("bench: bootstrap: %w", err)
	}
	err := poll(ctx, func() bool {
		l := b.Leader()
		return l >= 0 && b.nodes[l].raft.Apply(Command(0, 8), time.Second).Error() == nil
	})
	if err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("bench: baseline has no leader: %w", err)
	}
	return b, nil
}

func baseID(i int) raft.ServerID { return raft.ServerID(fmt.Sprintf("raft-%d", i)) }

func startBaseNode(dir string, i int, o BaselineOptions) (*baseNode, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	open := o.Stores
	if open == nil {
		open = o.Bolt.open
	}
	logs, stable, store, err := open(dir)
	if err != nil {
		return nil, err
	}
	snaps, err := raft.NewFileSnapshotStore(dir, 2, io.Discard)
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	trans, err := newTCPTransport(o.NoPipelining)
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	cfg := raft.DefaultConfig()
	cfg.LocalID = baseID(i)
	cfg.Logger = hclog.NewNullLogger()
	if o.Tune != nil {
		o.Tune(cfg)
	}
	n := &baseNode{trans: trans, store: store, kv: newKV()}
	r, err := raft.NewRaft(cfg, raftFSM{n.kv}, logs, stable, snaps, trans)
	if err != nil {
		_ = trans.Close()
		_ = store.Close()
		return nil, err
	}
	n.raft = r
	return n, nil
}

// newTCPTransport returns raft's TCP transport on a loopback port, as
// raft.NewTCPTransport builds it (a pool of 3 connections per peer, 10 s
// I/O timeout), optionally without pipelining.
func newTCPTransport(noPipelining bool) (*raft.NetworkTransport, error) {
	if !noPipelining {
		return raft.NewTCPTransport("127.0.0.1:0", nil, 3, 10*time.Second, io.Discard)
	}
	return raft.NewTCPTransportWithConfig("127.0.0.1:0", nil, &raft.NetworkTransportConfig{
		MaxPool: 3, Timeout: 10 * time.Second, Logger: hclog.NewNullLogger(), MaxRPCsInFlight: 1,
	})
}

// open opens a bolt file in dir as log and stable store.
func (o BoltOptions) open(dir string) (raft.LogStore, raft.StableStore, io.Closer, error) {
	bopts := &bbolt.Options{Timeout: time.Second, NoFreelistSync: o.NoFreelistSync}
	if o.FreelistMap {
		bopts.FreelistType = bbolt.FreelistMapType
	}
	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db"), BoltOptions: bopts, NoSync: o.NoSync})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("bench: bolt: %w", err)
	}
	var logs raft.LogStore = store
	if o.LogCache > 0 {
		if logs, err = raft.NewLogCache(o.LogCache, store); err != nil {
			_ = store.Close()
			return nil, nil, nil, err
		}
	}
	return logs, store, store, nil
}

// Len returns the number of servers.
func (b *Baseline) Len() int { return len(b.nodes) }

// Leader returns the index of the server that is leader, or -1.
func (b *Baseline) Leader() int {
	for i, n := range b.nodes {
		if n.raft.State() == raft.Leader {
			return i
		}
	}
	return -1
}

// Follower returns the index of a server that is not the leader.
func (b *Baseline) Follower() int {
	l := b.Leader()
	for i := range b.nodes {
		if i != l {
			return i
		}
	}
	return -1
}

// Apply applies cmd through server i, which must lead: raft.Apply, then the
// FSM's result.
func (b *Baseline) Apply(_ context.Context, i int, cmd []byte) ([]byte, error) {
	f := b.nodes[i].raft.Apply(cmd, 10*time.Second)
	if err := f.Error(); err != nil {
		return nil, err
	}
	res := f.Response().(raftResult)
	return res.data, res.err
}

// errNotLeader is returned by a Leader-level read on a follower.
var errNotLeader = errors.New("bench: not the leader")

// Query reads through server i at level, the way a hand-wired service
// would: Stale reads the local FSM; Leader checks raft.State first;
// Linearizable takes the commit index, confirms leadership with
// VerifyLeader and waits until the FSM has applied that index.
func (b *Baseline) Query(_ context.Context, i int, level consensus.ReadLevel, q []byte) ([]byte, error) {
	n := b.nodes[i]
	switch level {
	case consensus.Leader:
		if n.raft.State() != raft.Leader {
			return nil, errNotLeader
		}
	case consensus.Linearizable:
		index := n.raft.CommitIndex()
		if err := n.raft.VerifyLeader().Error(); err != nil {
			return nil, err
		}
		for n.raft.AppliedIndex() < index {
			time.Sleep(50 * time.Microsecond)
		}
	}
	return n.kv.get(q)
}

// Close stops every server.
func (b *Baseline) Close() error {
	var errs []error
	for _, n := range b.nodes {
		errs = append(errs, n.raft.Shutdown().Error(), n.trans.Close(), n.store.Close())
	}
	b.nodes = nil
	return errors.Join(errs...)
}
