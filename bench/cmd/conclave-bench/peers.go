package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/conclave-go/conclave/bench"
)

// peerFlags configure the peers suite: the kvstore example side by side
// with the stores a user would pick instead, each built separately and
// given by the path of its binary.
type peerFlags struct {
	hraftd     string
	rqlited    string
	wrk        string
	kvstoreWAL string
	rounds     int
	slice      time.Duration
}

func (f *peerFlags) register() {
	flag.StringVar(&f.hraftd, "hraftd", "", "peers suite: hraftd `binary` (github.com/otoolep/hraftd); empty leaves it out")
	flag.StringVar(&f.rqlited, "rqlited", "", "peers suite: rqlited `binary` (github.com/rqlite/rqlite, cmd/rqlited); empty leaves it out")
	flag.StringVar(&f.wrk, "wrk", "wrk", "peers suite: wrk `binary` for the second load generator (a name is looked up in PATH); empty: the Go load only")
	flag.StringVar(&f.kvstoreWAL, "kvstore-wal", "", "peers suite: a kvstore `binary` built with raft-wal (raftwal/cmd/kvstore), run with -log-store wal beside -kvstore; empty leaves it out")
	flag.IntVar(&f.rounds, "peer-rounds", 3, "peers suite: rounds, each on fresh clusters of every system")
	flag.DurationVar(&f.slice, "peer-slice", 2*time.Second, "peers suite: one measurement per system, case and round (whole seconds for wrk)")
}

func (f peerFlags) validate() error {
	if f.rounds < 1 {
		return fmt.Errorf("-peer-rounds must be at least 1, got %d", f.rounds)
	}
	if f.slice < time.Second {
		return fmt.Errorf("-peer-slice must be at least 1s (wrk measures whole seconds), got %v", f.slice)
	}
	return nil
}

// peers compares the kvstore with the other stores over HTTP, under the
// Go load and under wrk.
func peers(ctx context.Context, o options, dir string) error {
	f := o.peers
	bin, err := kvstoreBinary(o, dir)
	if err != nil {
		return err
	}
	specs := []bench.PeerSpec{{Name: "kvstore", Start: func(ctx context.Context, dir string) (*bench.PeerSystem, error) {
		return bench.StartKVStorePeer(ctx, bin, dir)
	}}}
	refs := []string{"kvstore"}
	if f.kvstoreWAL != "" {
		specs = append(specs, bench.PeerSpec{Name: "kvstore (wal)", Start: func(ctx context.Context, dir string) (*bench.PeerSystem, error) {
			return bench.StartKVStorePeer(ctx, f.kvstoreWAL, dir, "-log-store", "wal")
		}})
		refs = append(refs, "kvstore (wal)")
	}
	if f.hraftd != "" {
		specs = append(specs, bench.PeerSpec{Name: "hraftd", Start: func(ctx context.Context, dir string) (*bench.PeerSystem, error) {
			return bench.StartHraftd(ctx, f.hraftd, dir)
		}})
	}
	if f.rqlited != "" {
		specs = append(specs, bench.PeerSpec{Name: "rqlite", Start: func(ctx context.Context, dir string) (*bench.PeerSystem, error) {
			return bench.StartRqlite(ctx, f.rqlited, dir)
		}})
	}
	wrk, err := lookWrk(f.wrk)
	if err != nil {
		return err
	}
	rows, err := bench.ComparePeers(ctx, bench.PeerOptions{
		Dir: dir, Systems: specs, Ops: []string{bench.PeerWrite, bench.PeerStale, bench.PeerLinearizable},
		Clients: o.httpClients, Rounds: f.rounds, Slice: f.slice, Wrk: wrk, Log: os.Stderr,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(o.out, "\n## Side by side over HTTP: 3 processes per system, fresh each round (%d rounds × %v per case and system; every operation on the leader)\n\n", f.rounds, f.slice)
	bench.WritePeerTable(o.out, rows, refs)
	return nil
}

// lookWrk resolves the -wrk flag: empty means none, a name is looked up in
// PATH.
func lookWrk(name string) (string, error) {
	if name == "" {
		return "", nil
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return "", errors.Join(fmt.Errorf("-wrk %q: not found (install Debian's wrk package, or pass -wrk= for the Go load only)", name), err)
	}
	return path, nil
}

// kvstoreBinary returns -kvstore, or builds ./examples/kvstore into dir.
func kvstoreBinary(o options, dir string) (string, error) {
	if o.kvstore != "" {
		return o.kvstore, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "kvstore")
	cmd := exec.Command("go", "build", "-o", bin, "./examples/kvstore")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build kvstore (run from the repository root, or pass -kvstore): %w", err)
	}
	return bin, nil
}
