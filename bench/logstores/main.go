// Command logstores compares Raft log stores: raft-boltdb (the default of
// Conclave) and hashicorp/raft-wal. Suite "raft" runs them under the same
// hand-wired hashicorp/raft group; suite "consensus" runs a 3-server
// Conclave consensus group on each, raft-wal plugged in through
// consensus.Config.LogStore by package raftwal (a module of its own at the
// repository root). This program is a module of its own too, so that
// raft-wal and the dependency versions it pulls in stay out of Conclave's
// main module.
//
// Run it from this directory:
//
//	go run . -slice 1s -rounds 3
//	go run . -suite consensus -slice 300ms -rounds 10
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/conclave-go/conclave/bench"
	"github.com/conclave-go/conclave/raftwal"
)

func main() {
	slice := flag.Duration("slice", time.Second, "duration of one measurement slice")
	rounds := flag.Int("rounds", 3, "slices per case, interleaved between the variants")
	suite := flag.String("suite", "raft,consensus", "comma-separated suites: raft (hand-wired group), consensus (Conclave's consensus package)")
	flag.Parse()
	if err := run(strings.Split(*suite, ","), *slice, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "logstores:", err)
		os.Exit(1)
	}
}

var (
	callers = []int{1, 16, 256}
	sizes   = []int{64, 4096}
)

// openWAL opens raft-wal in dir as log and stable store.
func openWAL(dir string) (raft.LogStore, raft.StableStore, io.Closer, error) {
	s, err := raftwal.Open(filepath.Join(dir, raftwal.Dir), nil)
	if err != nil {
		return nil, nil, nil, err
	}
	return s, s, s, nil
}

func run(suites []string, slice time.Duration, rounds int) error {
	for _, s := range suites {
		if s != "raft" && s != "consensus" {
			return fmt.Errorf("unknown suite %q (allowed: raft, consensus)", s)
		}
	}
	dir, err := os.MkdirTemp("", "logstores-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	if slices.Contains(suites, "raft") {
		vs := []bench.Variant{
			{Name: "raft-boltdb"},
			{Name: "raft-boltdb +NoFreelistSync", Bolt: bench.BoltOptions{NoFreelistSync: true}},
			{Name: "raft-wal", Stores: openWAL},
		}
		rows, err := bench.Tuning(ctx, filepath.Join(dir, "raft"), vs, callers, sizes, rounds, slice)
		if err != nil {
			return err
		}
		fmt.Printf("## Log stores, hand-wired raft, leader writes (%d × %v per case)\n\n", rounds, slice)
		bench.WriteTable(os.Stdout, rows)
		fmt.Println()
	}
	if slices.Contains(suites, "consensus") {
		stores := []storeCase{
			{name: "consensus bolt (default)"},
			{name: "consensus raft-wal (Config.LogStore)", store: raftwal.LogStore(nil)},
		}
		rows, err := compareConsensus(ctx, filepath.Join(dir, "consensus"), stores, callers, sizes, rounds, slice)
		if err != nil {
			return err
		}
		fmt.Printf("## Log stores, 3-server Conclave consensus group (LAN profile), leader Apply (%d × %v per case)\n\n", rounds, slice)
		bench.WriteTable(os.Stdout, rows)
	}
	return nil
}
