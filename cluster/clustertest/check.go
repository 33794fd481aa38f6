package clustertest

import (
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// CheckOptions tunes [Check].
type CheckOptions struct {
	// Timeout bounds the linearizability search, which is NP-complete in
	// the worst case; a search cut short gives Result porcupine.Unknown,
	// which counts as a failure. Default 60s.
	Timeout time.Duration
	// Dir is where the HTML visualization of a failing history is written;
	// the file is kept. Default os.TempDir().
	Dir string
	// Faults are shown as annotations in the visualization.
	Faults []Fault
	// Begin is when the history began, to place Faults on its time line.
	// Default: the history's own start.
	Begin time.Time
}

// Report is the result of [Check].
type Report struct {
	// Operations counts the recorded operations: OK completed, Failed took
	// no effect (left out of the check), Unknown may or may not have.
	Operations, OK, Failed, Unknown int
	// Keys is the number of keys, each checked on its own.
	Keys int
	// Result is porcupine's verdict on linearizability: Ok, Illegal, or
	// Unknown when the search timed out.
	Result porcupine.CheckResult
	// Lost describes final reads (see [History.ReadFinal]) that miss an
	// acknowledged write: one that completed before the read began and was
	// not overwritten by a later acknowledged write.
	Lost []string
	// Visualization is the path of porcupine's HTML visualization, written
	// when Result is not Ok.
	Visualization string
	// Elapsed is how long the check took.
	Elapsed time.Duration
}

// Passed reports whether the history is linearizable and lost no write.
func (r Report) Passed() bool { return r.Result == porcupine.Ok && len(r.Lost) == 0 }

// String summarises the report on one line.
func (r Report) String() string {
	s := fmt.Sprintf("%s: %d operations (%d ok, %d failed, %d unknown) on %d keys, %d lost writes, checked in %v",
		r.Result, r.Operations, r.OK, r.Failed, r.Unknown, r.Keys, len(r.Lost), r.Elapsed.Round(time.Millisecond))
	if r.Visualization != "" {
		s += "; visualization: " + r.Visualization
	}
	return s
}

// Check verifies that the history is linearizable with respect to the
// [KV] state machine (with porcupine, key by key) and that its final reads
// lost no acknowledged write. On a linearizability failure it writes
// porcupine's visualization; an error is returned only if that fails.
func Check(h *History, opts CheckOptions) (Report, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 60 * time.Second
	}
	if opts.Begin.IsZero() {
		opts.Begin = h.begin
	}
	start := time.Now()
	ops := h.Operations()
	r := Report{Operations: len(ops), Keys: len(h.Keys())}
	r.OK, r.Failed, r.Unknown = h.Counts()
	r.Lost = lostWrites(ops)
	var info porcupine.LinearizationInfo
	r.Result, info = porcupine.CheckOperationsVerbose(kvModel, toPorcupine(ops), opts.Timeout)
	r.Elapsed = time.Since(start)
	if r.Result == porcupine.Ok {
		return r, nil
	}
	info.AddAnnotations(faultAnnotations(opts.Faults, opts.Begin))
	path, err := visualize(info, opts.Dir)
	r.Visualization = path
	return r, err
}

// toPorcupine converts the operations that matter: completed ones and
// writes of unknown outcome, whose return is "never".
func toPorcupine(ops []Operation) []porcupine.Operation {
	out := make([]porcupine.Operation, 0, len(ops))
	for _, op := range ops {
		if op.Outcome == OutcomeFailed {
			continue
		}
		ret := op.Return.Nanoseconds()
		if op.Outcome == OutcomeUnknown {
			ret = math.MaxInt64
		}
		meta := op.Node
		if op.Err != "" {
			meta += ": " + op.Err
		}
		out = append(out, porcupine.Operation{
			ClientId: op.Client,
			Input:    op.Request,
			Output:   kvOutput{KVResult: op.Result, Unknown: op.Outcome == OutcomeUnknown},
			Call:     op.Call.Nanoseconds(),
			Return:   ret,
			Metadata: meta,
		})
	}
	return out
}

func faultAnnotations(faults []Fault, begin time.Time) []porcupine.Annotation {
	out := make([]porcupine.Annotation, 0, len(faults))
	for _, f := range faults {
		out = append(out, porcupine.Annotation{
			Tag:             "faults",
			Start:           f.Time.Sub(begin).Nanoseconds(),
			Description:     f.What,
			BackgroundColor: "#f8d7da",
		})
	}
	return out
}

func visualize(info porcupine.LinearizationInfo, dir string) (string, error) {
	f, err := os.CreateTemp(dir, "clustertest-history-*.html")
	if err != nil {
		return "", fmt.Errorf("clustertest: visualization: %w", err)
	}
	werr := porcupine.Visualize(kvModel, info, f)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return f.Name(), fmt.Errorf("clustertest: visualization: %w", werr)
	}
	return f.Name(), nil
}

// lostWrites checks every final read: the value it returns must come from a
// write (or the initial absence) that no acknowledged write is known to have
// overwritten before the read began.
func lostWrites(ops []Operation) []string {
	byKey := make(map[string][]Operation)
	for _, op := range ops {
		if op.Outcome != OutcomeFailed {
			byKey[op.Request.Key] = append(byKey[op.Request.Key], op)
		}
	}
	var lost []string
	for _, op := range ops {
		if op.Final && op.Outcome == OutcomeOK {
			if msg := checkFinalRead(op, byKey[op.Request.Key]); msg != "" {
				lost = append(lost, msg)
			}
		}
	}
	return lost
}

// effective reports whether op is an acknowledged write that changed the
// state.
func effective(op Operation) bool {
	if op.Outcome != OutcomeOK {
		return false
	}
	switch op.Request.Op {
	case OpPut, OpDelete:
		return true
	case OpCAS:
		return op.Result.OK
	}
	return false
}

// produces reports whether write op, had it taken effect last, would leave
// the state read by r.
func produces(op Operation, r KVResult) bool {
	switch op.Request.Op {
	case OpPut:
		return r.Found && op.Request.Value == r.Value
	case OpCAS:
		return r.Found && op.Request.Value == r.Value && (op.Outcome == OutcomeUnknown || op.Result.OK)
	case OpDelete:
		return !r.Found
	}
	return false
}

func checkFinalRead(read Operation, ops []Operation) string {
	// superseded reports whether an acknowledged write began after w ended
	// (w.end) and ended before the read began.
	superseded := func(self int, end time.Duration, unknown bool) bool {
		if unknown {
			return false
		}
		for i, o := range ops {
			if i != self && effective(o) && o.Call > end && o.Return < read.Call {
				return true
			}
		}
		return false
	}
	if !read.Result.Found && !superseded(-1, -1, false) {
		return "" // the initial absence still stands
	}
	var latest *Operation
	for i, w := range ops {
		if effective(w) && (latest == nil || w.Return > latest.Return) && w.Return < read.Call {
			latest = &ops[i]
		}
		if w.Request.Op == OpGet || !produces(w, read.Result) {
			continue
		}
		if !superseded(i, w.Return, w.Outcome == OutcomeUnknown) {
			return ""
		}
	}
	got := "(absent)"
	if read.Result.Found {
		got = fmt.Sprintf("%q", read.Result.Value)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "final read of %q at %v returned %s", read.Request.Key, read.Call, got)
	if latest != nil {
		fmt.Fprintf(&b, "; the last acknowledged write was %s, done at %v", latest.Request, latest.Return)
	}
	return b.String()
}

// Check verifies h like the package-level [Check], with the cluster's
// faults annotated on the visualization. In a cluster built by [New] a
// failing check fails the test, with the seed and the visualization's path.
func (c *Cluster) Check(h *History) Report {
	c.rep.Helper()
	r, err := Check(h, CheckOptions{Faults: c.Faults(), Begin: h.begin})
	c.logf("check: %s", r)
	if c.tb != nil {
		if err != nil {
			c.tb.Errorf("clustertest: %v", err)
		}
		if !r.Passed() {
			c.tb.Errorf("clustertest: history of seed %d is not linearizable or lost writes: %s\n%s",
				c.Seed(), r, strings.Join(r.Lost, "\n"))
		}
	}
	return r
}
