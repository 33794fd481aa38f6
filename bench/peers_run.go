package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"time"
)

// Load generators of the peer comparison.
const (
	LoadGo  = "go"  // this package's closed loop over net/http
	LoadWrk = "wrk" // wrk, an independent C client
)

// PeerSpec names a system under comparison and starts a fresh cluster of it
// in dir; Name replaces the name Start gives the system.
type PeerSpec struct {
	Name  string
	Start func(ctx context.Context, dir string) (*PeerSystem, error)
}

// PeerOptions configure a side-by-side comparison.
type PeerOptions struct {
	Dir     string
	Systems []PeerSpec
	Ops     []string // PeerWrite, PeerStale, PeerLinearizable
	Clients []int
	Rounds  int           // each on fresh clusters of every system
	Slice   time.Duration // per system, case and round; whole seconds for wrk
	Wrk     string        // the wrk binary; empty: the Go load only
	Log     io.Writer     // progress, one line per round; nil: none
}

// PeerRow is one system's measurement of one case, summed over the rounds.
type PeerRow struct {
	Load, Op string
	Clients  int
	System   string
	Result   Result
	// wrk reports percentiles, not latencies: one pair per slice.
	wrkP50, wrkP99 []time.Duration
}

// Percentile returns the latency at quantile q (0.5 or 0.99 for wrk's rows,
// whose value is the median over the slices).
func (r *PeerRow) Percentile(q float64) time.Duration {
	if r.Load != LoadWrk {
		return r.Result.Percentile(q)
	}
	ps := r.wrkP50
	if q > 0.5 {
		ps = r.wrkP99
	}
	if len(ps) == 0 {
		return 0
	}
	s := slices.Clone(ps)
	slices.Sort(s)
	return s[len(s)/2]
}

type peerCase struct {
	load, op string
	clients  int
}

// ComparePeers runs every system's operations side by side. Each round
// starts a fresh cluster of every system, writes every key once, then runs
// each case on every system in turn (the order rotating by round), so that
// a change in the machine's load affects all alike. Only the node each
// system names leader is loaded; CPU is the systems' processes' only.
func ComparePeers(ctx context.Context, o PeerOptions) ([]PeerRow, error) {
	loads := []string{LoadGo}
	if o.Wrk != "" {
		loads = append(loads, LoadWrk)
	}
	var cases []peerCase
	for _, load := range loads {
		for _, op := range o.Ops {
			for _, c := range o.Clients {
				cases = append(cases, peerCase{load, op, c})
			}
		}
	}
	rows := map[peerCase]map[string]*PeerRow{}
	for r := range o.Rounds {
		if err := peerRound(ctx, o, r, cases, rows); err != nil {
			return nil, fmt.Errorf("round %d: %w", r+1, err)
		}
	}
	var out []PeerRow
	for _, c := range cases {
		for _, s := range o.Systems {
			if row := rows[c][s.Name]; row != nil {
				out = append(out, *row)
			}
		}
	}
	return out, nil
}

// peerRound starts every system, measures every case once and stops them.
func peerRound(ctx context.Context, o PeerOptions, round int, cases []peerCase, rows map[peerCase]map[string]*PeerRow) (err error) {
	dir := filepath.Join(o.Dir, fmt.Sprintf("round%d", round+1))
	var systems []*PeerSystem
	defer func() {
		for _, s := range systems {
			_ = s.Close()
		}
	}()
	for _, spec := range rotate(o.Systems, round) {
		s, err := spec.Start(ctx, filepath.Join(dir, spec.Name))
		if err != nil {
			return fmt.Errorf("start %s: %w", spec.Name, err)
		}
		s.Name = spec.Name
		systems = append(systems, s)
		if err := s.preload(ctx); err != nil {
			return err
		}
	}
	if o.Log != nil {
		fmt.Fprintf(o.Log, "round %d of %d: %d systems started and loaded with %d keys\n", round+1, o.Rounds, len(systems), keySpace)
	}
	for _, c := range cases {
		for _, s := range systems {
			if !s.Supports(c.op) {
				continue
			}
			if err := measurePeer(ctx, o, dir, c, s, rows); err != nil {
				return err
			}
		}
	}
	return nil
}

// measurePeer runs one slice of case c on s and adds it to its row.
func measurePeer(ctx context.Context, o PeerOptions, dir string, c peerCase, s *PeerSystem, rows map[peerCase]map[string]*PeerRow) error {
	if rows[c] == nil {
		rows[c] = map[string]*PeerRow{}
	}
	row := rows[c][s.Name]
	if row == nil {
		row = &PeerRow{Load: c.load, Op: c.op, Clients: c.clients, System: s.Name}
		rows[c][s.Name] = row
	}
	if err := s.group.alive(); err != nil {
		return err
	}
	c0 := s.CPU()
	switch c.load {
	case LoadGo:
		r := RunFor(ctx, c.clients, o.Slice, s.Op(c.op))
		r.CPU = s.CPU() - c0
		row.Result.Add(r)
	case LoadWrk:
		script, err := wrkScript(dir, s.Name+"-"+c.op, s.ops[c.op])
		if err != nil {
			return err
		}
		w, err := runWrk(ctx, o.Wrk, script, s.URLs[s.leader], c.clients, o.Slice)
		if err != nil {
			return errors.Join(fmt.Errorf("%s %s at %d clients", s.Name, c.op, c.clients), err)
		}
		w.CPU = s.CPU() - c0
		row.Result.Add(w.Result)
		row.wrkP50 = append(row.wrkP50, w.P50)
		row.wrkP99 = append(row.wrkP99, w.P99)
	}
	return nil
}

// rotate returns xs turned left by n places.
func rotate[T any](xs []T, n int) []T {
	if len(xs) == 0 {
		return nil
	}
	n %= len(xs)
	return append(slices.Clone(xs[n:]), xs[:n]...)
}

// WritePeerTable prints the comparison as a Markdown table, with each
// system's throughput divided into that of each reference system (the
// kvstore builds) in columns of their own.
func WritePeerTable(w io.Writer, rows []PeerRow, refs []string) {
	fmt.Fprint(w, "| load | operation | clients | system | ops/s | p50 | p99 | server CPU/op | errors |")
	for _, ref := range refs {
		fmt.Fprintf(w, " %s ÷ this |", ref)
	}
	fmt.Fprint(w, "\n|---|---|---:|---|---:|---:|---:|---:|---:|")
	for range refs {
		fmt.Fprint(w, "---:|")
	}
	fmt.Fprintln(w)
	for i := range rows {
		r := &rows[i]
		fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s | %s | %s | %s |",
			r.Load, r.Op, r.Clients, r.System, fmtRate(r.Result.Throughput()),
			FmtDur(r.Percentile(0.5)), FmtDur(r.Percentile(0.99)), FmtDur(r.Result.CPUPerOp()), fmtErrors(r.Result))
		for _, ref := range refs {
			fmt.Fprintf(w, " %s |", peerRatio(rows, r, ref))
		}
		fmt.Fprintln(w)
	}
}

// peerRatio is the reference system's throughput over r's in r's case, or
// "—" for the reference itself or a case it did not run.
func peerRatio(rows []PeerRow, r *PeerRow, ref string) string {
	if r.System == ref {
		return "—"
	}
	for i := range rows {
		x := &rows[i]
		if x.System == ref && x.Load == r.Load && x.Op == r.Op && x.Clients == r.Clients && r.Result.Throughput() > 0 {
			return fmt.Sprintf("%.2f", x.Result.Throughput()/r.Result.Throughput())
		}
	}
	return "—"
}
