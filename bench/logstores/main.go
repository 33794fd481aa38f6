// Command logstores compares Raft log stores under the same hand-wired
// hashicorp/raft group: raft-boltdb (the default of Conclave) and
// hashicorp/raft-wal. It lives in a module of its own so that raft-wal and
// the dependency versions it pulls in stay out of Conclave's module.
//
// Run it from this directory:
//
//	go run . -slice 1s -rounds 3
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"

	"github.com/conclave-go/conclave/bench"
)

func main() {
	slice := flag.Duration("slice", time.Second, "duration of one measurement slice")
	rounds := flag.Int("rounds", 3, "slices per case, interleaved between the variants")
	flag.Parse()
	if err := run(*slice, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "logstores:", err)
		os.Exit(1)
	}
}

// openWAL opens raft-wal in dir as log and stable store.
func openWAL(dir string) (raft.LogStore, raft.StableStore, io.Closer, error) {
	walDir := filepath.Join(dir, "wal")
	if err := os.MkdirAll(walDir, 0o700); err != nil {
		return nil, nil, nil, err
	}
	w, err := wal.Open(walDir, wal.WithLogger(hclog.NewNullLogger()))
	if err != nil {
		return nil, nil, nil, err
	}
	return w, w, w, nil
}

func run(slice time.Duration, rounds int) error {
	dir, err := os.MkdirTemp("", "logstores-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	vs := []bench.Variant{
		{Name: "raft-boltdb"},
		{Name: "raft-boltdb +NoFreelistSync", Bolt: bench.BoltOptions{NoFreelistSync: true}},
		{Name: "raft-wal", Stores: openWAL},
	}
	rows, err := bench.Tuning(context.Background(), dir, vs, []int{1, 16, 256}, []int{64, 4096}, rounds, slice)
	if err != nil {
		return err
	}
	fmt.Printf("## Log stores, hand-wired raft, leader writes (%d × %v per case)\n\n", rounds, slice)
	bench.WriteTable(os.Stdout, rows)
	return nil
}
