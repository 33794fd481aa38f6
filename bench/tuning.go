package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/raft"

	"github.com/conclave-go/conclave/cluster"
)

// Variant is one storage or Raft setting measured by [Tuning].
type Variant struct {
	// Name labels the variant in tables.
	Name string
	// Conclave selects a Conclave cluster instead of a hand-wired group.
	Conclave bool
	// Follower applies through a follower of the Conclave cluster
	// (forwarded) instead of its leader.
	Follower bool
	// Bolt selects the storage options of a hand-wired group.
	Bolt BoltOptions
	// NoPipelining turns off a hand-wired group's pipelined replication.
	NoPipelining bool
	// Tune edits raft.DefaultConfig(): a hand-wired group's, or the one a
	// Conclave cluster runs with (through the consensus Raft escape hatch).
	Tune func(*raft.Config)
	// Stores, when set, opens a hand-wired group's stores instead of bolt
	// (see [BaselineOptions]).
	Stores func(dir string) (raft.LogStore, raft.StableStore, io.Closer, error)
}

// DefaultVariants are the settings [Tuning] compares: the baseline as
// wired by hand, each bolt option alone, what Conclave adds (raft's
// LogCache, a larger MaxAppendEntries), raft's BatchApplyCh, Conclave with
// raft's stock configuration, and bolt without fsync as the ceiling that
// durable storage puts on writes.
func DefaultVariants() []Variant {
	mae := func(c *raft.Config) { c.MaxAppendEntries = 256 }
	return []Variant{
		{Name: "baseline"},
		{Name: "baseline +NoFreelistSync", Bolt: BoltOptions{NoFreelistSync: true}},
		{Name: "baseline +NoFreelistSync+FreelistMap", Bolt: BoltOptions{NoFreelistSync: true, FreelistMap: true}},
		{Name: "baseline +BatchApplyCh", Tune: func(c *raft.Config) { c.BatchApplyCh = true }},
		{Name: "baseline +LogCache512", Bolt: BoltOptions{LogCache: 512}},
		{Name: "baseline +LogCache512+MaxAppendEntries256", Bolt: BoltOptions{LogCache: 512}, Tune: mae},
		{Name: "baseline +NoPipelining", NoPipelining: true},
		{Name: "baseline +LogCache512+MaxAppendEntries256+NoPipelining", Bolt: BoltOptions{LogCache: 512}, Tune: mae, NoPipelining: true},
		{Name: "conclave", Conclave: true},
		{Name: "conclave with raft.DefaultConfig (MaxAppendEntries 64)", Conclave: true, Tune: func(*raft.Config) {}},
		{Name: "baseline +NoSync (unsafe: ceiling only)", Bolt: BoltOptions{NoSync: true}},
	}
}

// Tuning starts a group per variant, side by side, and measures leader
// writes at each caller count and size, interleaving the variants. Every
// row is compared with the first variant.
func Tuning(ctx context.Context, dir string, vs []Variant, callers, sizes []int, rounds int, slice time.Duration) ([]Row, error) {
	var applies []func(context.Context, []byte) error
	var closers []func() error
	defer func() {
		for _, c := range closers {
			_ = c()
		}
	}()
	for i, v := range vs {
		apply, closeFn, err := startVariant(ctx, fmt.Sprintf("%s/v%d", dir, i), v)
		if err != nil {
			return nil, fmt.Errorf("bench: variant %q: %w", v.Name, err)
		}
		closers = append(closers, closeFn)
		applies = append(applies, apply)
	}
	if len(applies) == 0 {
		return nil, errors.New("bench: no variants")
	}
	var rows []Row
	for _, size := range sizes {
		for _, c := range callers {
			ts := make([]Target, len(vs))
			for i, v := range vs {
				apply := applies[i]
				ts[i] = Target{Name: v.Name, Op: func(ctx context.Context, w, seq int) error {
					return apply(ctx, Command(opKey(w, seq), size))
				}}
			}
			_, res, err := interleave(ctx, c, rounds, slice, fixed(ts))
			if err != nil {
				return rows, err
			}
			rows = append(rows, compareRows("tuning", ts, res, c, size, "")...)
		}
	}
	return rows, nil
}

// startVariant starts one group and returns a function applying a
// command on its leader, and one closing the group.
func startVariant(ctx context.Context, dir string, v Variant) (func(context.Context, []byte) error, func() error, error) {
	if !v.Conclave {
		b, err := StartBaseline(ctx, BaselineOptions{Dir: dir, Bolt: v.Bolt, NoPipelining: v.NoPipelining, Tune: v.Tune, Stores: v.Stores})
		if err != nil {
			return nil, nil, err
		}
		return func(ctx context.Context, cmd []byte) error {
			l := b.Leader()
			if l < 0 {
				return errNoLeader
			}
			_, err := b.Apply(ctx, l, cmd)
			return err
		}, b.Close, nil
	}
	var rc *raft.Config
	if v.Tune != nil {
		rc = raft.DefaultConfig()
		v.Tune(rc)
	}
	c, err := StartConclave(ctx, ConclaveOptions{Dir: dir, Profile: cluster.ProfileLAN, Raft: rc})
	if err != nil {
		return nil, nil, err
	}
	return func(ctx context.Context, cmd []byte) error {
		i := c.Leader()
		if v.Follower {
			i = c.Follower()
		}
		if i < 0 {
			return errNoLeader
		}
		_, err := c.Nodes[i].Apply(ctx, cmd)
		return err
	}, c.Close, nil
}

// FastRaft returns a Raft configuration with heartbeat and election
// timeouts and leader lease of hb, for failover measurements beyond the
// built-in profiles.
func FastRaft(hb time.Duration) *raft.Config {
	c := raft.DefaultConfig()
	c.HeartbeatTimeout = hb
	c.ElectionTimeout = hb
	c.LeaderLeaseTimeout = hb
	c.CommitTimeout = 10 * time.Millisecond
	return c
}
