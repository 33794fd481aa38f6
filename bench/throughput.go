package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/conclave-go/conclave/cluster"
	"github.com/conclave-go/conclave/consensus"
)

// Env is the pair of groups a throughput comparison runs on: the
// hand-wired baseline and a Conclave cluster of as many servers plus one
// client node, side by side in this process, with bolt on disk.
type Env struct {
	Base *Baseline
	Con  *Conclave
}

// EnvOptions configure an [Env].
type EnvOptions struct {
	// Dir holds every data directory. Required.
	Dir string
	// Bolt selects the baseline's storage options.
	Bolt BoltOptions
	// BaseTune edits the baseline's raft.Config.
	BaseTune func(*raft.Config)
	// ConRaft, when set, replaces the Raft config of Conclave's servers.
	ConRaft *raft.Config
}

// StartEnv starts both groups: the baseline with raft.DefaultConfig, and
// Conclave on the LAN profile, whose Raft timings are the same.
func StartEnv(ctx context.Context, o EnvOptions) (*Env, error) {
	base, err := StartBaseline(ctx, BaselineOptions{Dir: o.Dir, Bolt: o.Bolt, Tune: o.BaseTune})
	if err != nil {
		return nil, err
	}
	con, err := StartConclave(ctx, ConclaveOptions{
		Dir: o.Dir, Clients: 1, Profile: cluster.ProfileLAN, Raft: o.ConRaft,
	})
	if err != nil {
		_ = base.Close()
		return nil, err
	}
	return &Env{Base: base, Con: con}, nil
}

// Close stops both groups.
func (e *Env) Close() error {
	err := e.Con.Close()
	if err2 := e.Base.Close(); err == nil {
		err = err2
	}
	return err
}

// Row is one measured case of a table.
type Row struct {
	Section string // "write", "read", ...
	Name    string // what was measured, e.g. "conclave follower"
	Callers int
	Size    int    // command size in bytes; 0 for reads
	Level   string // read level; "" for writes
	Result  Result
	Base    *Result // the baseline case it is compared with, if any
}

// Ratio is this case's throughput over its baseline's, or 0 without one.
func (r *Row) Ratio() float64 {
	if r.Base == nil || r.Base.Throughput() == 0 {
		return 0
	}
	return r.Result.Throughput() / r.Base.Throughput()
}

// opKey spreads keys over workers and sequence numbers.
func opKey(w, seq int) uint64 { return uint64(w)*7919 + uint64(seq) }

// Target is one named operation of a comparison.
type Target struct {
	Name string
	Op   Op
	// CPU, when set, returns the CPU time used so far by other processes
	// serving the operation; it is added to this process's for
	// Result.CPU.
	CPU func() time.Duration
	// Batch is the number of operations each call of Op carries (0: one):
	// Result.Ops counts operations, latencies stay per call.
	Batch int
	// ServerOnly leaves this process's CPU (the load generator's) out of
	// Result.CPU: only CPU's processes count.
	ServerOnly bool
}

// cpuNow returns this process's CPU time plus t's other processes'.
func (t Target) cpuNow() time.Duration {
	var c time.Duration
	if !t.ServerOnly {
		c = selfCPU()
	}
	if t.CPU != nil {
		c += t.CPU()
	}
	return c
}

// interleave runs every target for slice, round after round, so that a
// change in the machine's load affects them alike; each result sums the
// target's slices. The targets are built afresh each round, so that a
// leader change between rounds is followed; a round that fails to build
// them returns the error.
func interleave(ctx context.Context, callers, rounds int, slice time.Duration, targets func() ([]Target, error)) ([]Target, []Result, error) {
	var ts []Target
	var res []Result
	for range rounds {
		var err error
		if ts, err = targets(); err != nil {
			return nil, nil, err
		}
		if res == nil {
			res = make([]Result, len(ts))
		}
		for i, t := range ts {
			c0 := t.cpuNow()
			r := RunFor(ctx, callers, slice, t.Op)
			r.CPU = t.cpuNow() - c0
			r.Ops *= max(t.Batch, 1)
			res[i].Add(r)
		}
	}
	return ts, res, nil
}

// fixed returns a target generator for targets that never change.
func fixed(ts []Target) func() ([]Target, error) {
	return func() ([]Target, error) { return ts, nil }
}

// errNoLeader reports a group without a leader while targets are built.
var errNoLeader = errors.New("bench: no leader")

// WriteTargets returns the write operations compared: the baseline's
// raft.Apply on its leader, and Conclave's Apply on the leader, on a
// follower (forwarded) and on a client node (routed to a server), as the
// groups stand now.
func (e *Env) WriteTargets(size int) ([]Target, error) {
	bl, cl, cf, err := e.roles()
	if err != nil {
		return nil, err
	}
	apply := func(i int) Op {
		n := e.Con.Nodes[i]
		return func(ctx context.Context, w, seq int) error {
			_, err := n.Apply(ctx, Command(opKey(w, seq), size))
			return err
		}
	}
	ts := []Target{
		{Name: "baseline leader", Op: func(ctx context.Context, w, seq int) error {
			_, err := e.Base.Apply(ctx, bl, Command(opKey(w, seq), size))
			return err
		}},
		{Name: "conclave leader", Op: apply(cl)},
		{Name: "conclave follower", Op: apply(cf)},
	}
	if c := e.Con.Client(); c >= 0 {
		ts = append(ts, Target{Name: "conclave client", Op: apply(c)})
	}
	return ts, nil
}

// roles returns the baseline's leader and Conclave's leader and a follower,
// waiting up to 30 s for both groups to have a leader.
func (e *Env) roles() (bl, cl, cf int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = poll(ctx, func() bool {
		bl, cl, cf = e.Base.Leader(), e.Con.Leader(), e.Con.Follower()
		return bl >= 0 && cl >= 0 && cf >= 0
	})
	if err != nil {
		return 0, 0, 0, errNoLeader
	}
	return bl, cl, cf, nil
}

// Writes measures every write target at each caller count and command
// size.
func (e *Env) Writes(ctx context.Context, callers, sizes []int, rounds int, slice time.Duration) ([]Row, error) {
	return writeSweep(ctx, "write", callers, sizes, rounds, slice, e.WriteTargets)
}

// writeSweep measures the write targets of each command size at each
// caller count, in interleaved slices, as rows of section.
func writeSweep(ctx context.Context, section string, callers, sizes []int, rounds int, slice time.Duration, targets func(size int) ([]Target, error)) ([]Row, error) {
	var rows []Row
	for _, size := range sizes {
		for _, c := range callers {
			ts, res, err := interleave(ctx, c, rounds, slice, func() ([]Target, error) { return targets(size) })
			if err != nil {
				return rows, err
			}
			rows = append(rows, compareRows(section, ts, res, c, size, "")...)
		}
	}
	return rows, nil
}

// compareRows makes a row per target, each compared with the first target
// (the baseline).
func compareRows(section string, ts []Target, res []Result, callers, size int, level string) []Row {
	rows := make([]Row, len(ts))
	for i, t := range ts {
		rows[i] = Row{Section: section, Name: t.Name, Callers: callers, Size: size, Level: level, Result: res[i]}
		if i > 0 {
			rows[i].Base = &res[0]
		}
	}
	return rows
}

// ReadTargets returns the read operations compared at level: the
// baseline's on its leader (and, for Stale, on a follower), and Conclave's
// Query on its leader and on a follower, as the groups stand now.
func (e *Env) ReadTargets(level consensus.ReadLevel) ([]Target, error) {
	bl, cl, cf, err := e.roles()
	if err != nil {
		return nil, err
	}
	bf := e.Base.Follower()
	baseQuery := func(i int) Op {
		return func(ctx context.Context, w, seq int) error {
			_, err := e.Base.Query(ctx, i, level, Query(opKey(w, seq)))
			return err
		}
	}
	conQuery := func(i int) Op {
		n := e.Con.Nodes[i]
		return func(ctx context.Context, w, seq int) error {
			_, err := n.Query(ctx, level, Query(opKey(w, seq)))
			return err
		}
	}
	ts := []Target{
		{Name: "baseline leader", Op: baseQuery(bl)},
		{Name: "conclave leader", Op: conQuery(cl)},
		{Name: "conclave follower", Op: conQuery(cf)},
	}
	if level == consensus.Stale {
		ts = append(ts, Target{Name: "baseline follower", Op: baseQuery(bf)})
	}
	return ts, nil
}

// Reads measures every read target at each level and caller count.
func (e *Env) Reads(ctx context.Context, callers []int, rounds int, slice time.Duration) ([]Row, error) {
	var rows []Row
	for _, level := range []consensus.ReadLevel{consensus.Stale, consensus.Leader, consensus.Linearizable} {
		for _, c := range callers {
			ts, res, err := interleave(ctx, c, rounds, slice, func() ([]Target, error) { return e.ReadTargets(level) })
			if err != nil {
				return rows, err
			}
			rows = append(rows, compareRows("read", ts, res, c, 0, level.String())...)
		}
	}
	return rows, nil
}

// sizeLabel renders a command size.
func sizeLabel(n int) string {
	switch {
	case n == 0:
		return ""
	case n%1024 == 0:
		return fmt.Sprintf("%dKiB", n/1024)
	default:
		return fmt.Sprintf("%dB", n)
	}
}
