package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
	"time"

	"github.com/conclave-go/conclave/bench"
	"github.com/conclave-go/conclave/consensus"
)

// storeCase is one log store compared through Conclave.
type storeCase struct {
	name  string
	store consensus.LogStoreConfig
}

// keySpace bounds the keys the load writes, so the state machines' memory
// stays bounded however long a run lasts.
const keySpace = 4096

// compareConsensus starts a 3-server consensus group per store, side by
// side, and measures Apply on each group's leader at every caller count
// and command size, interleaving the groups slice by slice so that a change
// in the machine's load affects them alike. Every row is compared with the
// first store's.
func compareConsensus(ctx context.Context, dir string, stores []storeCase, callers, sizes []int, rounds int, slice time.Duration) ([]bench.Row, error) {
	groups := make([]*group, 0, len(stores))
	defer func() {
		for _, g := range groups {
			_ = g.close()
		}
	}()
	for i, s := range stores {
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		g, err := startGroup(sctx, filepath.Join(dir, fmt.Sprintf("c%d", i)), 3, s.store, consensus.ProfileLAN)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("logstores: start %s group: %w", s.name, err)
		}
		groups = append(groups, g)
	}
	var rows []bench.Row
	for _, size := range sizes {
		for _, c := range callers {
			res := make([]bench.Result, len(groups))
			for range rounds {
				for i, g := range groups {
					r, err := measureLeader(ctx, g, c, size, slice)
					if err != nil {
						return rows, fmt.Errorf("logstores: %s: %w", stores[i].name, err)
					}
					res[i].Add(r)
				}
			}
			for i, s := range stores {
				row := bench.Row{Section: "consensus", Name: s.name, Callers: c, Size: size, Result: res[i]}
				if i > 0 {
					row.Base = &res[0]
				}
				rows = append(rows, row)
			}
		}
	}
	return rows, nil
}

// measureLeader runs Apply on g's leader from callers workers for slice,
// with the process's CPU time.
func measureLeader(ctx context.Context, g *group, callers, size int, slice time.Duration) (bench.Result, error) {
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err := g.waitReady(wctx)
	cancel()
	if err != nil {
		return bench.Result{}, err
	}
	l := g.leader()
	if l < 0 {
		return bench.Result{}, errors.New("no leader")
	}
	n := g.nodes[l]
	c0 := processCPU()
	r := bench.RunFor(ctx, callers, slice, func(ctx context.Context, w, seq int) error {
		_, err := n.Apply(ctx, bench.Command(uint64(w*7919+seq)%keySpace, size))
		return err
	})
	r.CPU = processCPU() - c0
	return r, nil
}

// processCPU returns the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
