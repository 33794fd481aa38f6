package clustertest

import (
	"os"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/require"
)

// op builds a recorded operation; call and ret are in milliseconds.
func op(client int, req KVRequest, res KVResult, outcome Outcome, call, ret int) Operation {
	return Operation{
		Client: client, Node: "node-0", Request: req, Result: res, Outcome: outcome,
		Call: time.Duration(call) * time.Millisecond, Return: time.Duration(ret) * time.Millisecond,
	}
}

func historyOf(ops ...Operation) *History {
	h := NewHistory()
	h.ops = ops
	h.nextClient = 10
	return h
}

func put(k, v string) KVRequest    { return KVRequest{Op: OpPut, Key: k, Value: v} }
func get(k string) KVRequest       { return KVRequest{Op: OpGet, Key: k} }
func cas(k, e, v string) KVRequest { return KVRequest{Op: OpCAS, Key: k, Expect: e, Value: v} }
func del(k string) KVRequest       { return KVRequest{Op: OpDelete, Key: k} }
func val(v string) KVResult        { return KVResult{Value: v, Found: true} }

var (
	absent = KVResult{}
	okRes  = KVResult{OK: true}
)

func TestCheckAcceptsALinearizableHistory(t *testing.T) {
	h := historyOf(
		op(0, put("a", "1"), okRes, OutcomeOK, 0, 10),
		op(1, get("a"), val("1"), OutcomeOK, 5, 15), // concurrent with the put: may see it
		op(1, cas("a", "1", "2"), KVResult{Value: "1", Found: true, OK: true}, OutcomeOK, 20, 30),
		op(0, put("a", "3"), absent, OutcomeUnknown, 31, 0), // may or may not have happened
		op(2, get("a"), val("2"), OutcomeOK, 40, 50),
		op(2, get("a"), val("3"), OutcomeOK, 60, 70),      // the unknown put took effect late
		op(2, put("b", "x"), absent, OutcomeFailed, 0, 5), // failed: left out
		op(3, del("a"), KVResult{Value: "3", Found: true, OK: true}, OutcomeOK, 80, 90),
		op(3, get("a"), absent, OutcomeOK, 95, 99),
	)
	r, err := Check(h, CheckOptions{})
	require.NoError(t, err)
	require.True(t, r.Passed(), r.String())
	require.Equal(t, porcupine.Ok, r.Result)
	require.Equal(t, 9, r.Operations)
	require.Equal(t, 1, r.Unknown)
	require.Equal(t, 1, r.Failed)
	require.Empty(t, r.Visualization)
}

func TestCheckFindsAStaleRead(t *testing.T) {
	dir := t.TempDir()
	h := historyOf(
		op(0, put("a", "1"), okRes, OutcomeOK, 0, 10),
		op(0, put("a", "2"), val("1"), OutcomeOK, 20, 30),
		op(1, get("a"), val("1"), OutcomeOK, 40, 50), // began after "2" was acknowledged
	)
	r, err := Check(h, CheckOptions{Dir: dir, Faults: []Fault{{Time: h.begin.Add(15 * time.Millisecond), What: "partition"}}})
	require.NoError(t, err)
	require.Equal(t, porcupine.Illegal, r.Result)
	require.False(t, r.Passed())
	require.FileExists(t, r.Visualization)
	html, err := os.ReadFile(r.Visualization)
	require.NoError(t, err)
	require.Contains(t, string(html), "partition", "faults are annotated")
}

func TestCheckFindsAWrongCASAndAWrongPreviousValue(t *testing.T) {
	for name, h := range map[string]*History{
		"cas succeeded on a mismatch": historyOf(
			op(0, put("a", "1"), okRes, OutcomeOK, 0, 10),
			op(0, cas("a", "9", "2"), KVResult{Value: "1", Found: true, OK: true}, OutcomeOK, 20, 30),
		),
		"put reports a previous value never written": historyOf(
			op(0, put("a", "1"), KVResult{Value: "7", Found: true}, OutcomeOK, 0, 10),
		),
	} {
		t.Run(name, func(t *testing.T) {
			r, err := Check(h, CheckOptions{Dir: t.TempDir()})
			require.NoError(t, err)
			require.Equal(t, porcupine.Illegal, r.Result)
		})
	}
}

func TestCheckFindsALostWrite(t *testing.T) {
	final := op(5, get("a"), val("1"), OutcomeOK, 100, 110)
	final.Final = true
	h := historyOf(
		op(0, put("a", "1"), okRes, OutcomeOK, 0, 10),
		op(0, put("a", "2"), val("1"), OutcomeOK, 20, 30),
		op(1, put("a", "3"), absent, OutcomeUnknown, 40, 0),
		final,
	)
	lost := lostWrites(h.Operations())
	require.Len(t, lost, 1)
	require.Contains(t, lost[0], `put(a, 2)`)

	// The unknown put may have been the last write; and an absent key is
	// fine when the only acknowledged writes were deleted or never made.
	final.Result = val("3")
	require.Empty(t, lostWrites([]Operation{h.ops[0], h.ops[1], h.ops[2], final}))
	final.Result = absent
	require.NotEmpty(t, lostWrites([]Operation{h.ops[0], final}))
	require.Empty(t, lostWrites([]Operation{op(0, put("a", "1"), absent, OutcomeFailed, 0, 10), final}))
	require.Empty(t, lostWrites([]Operation{h.ops[0], op(0, del("a"), val("1"), OutcomeOK, 20, 30), final}))
}

func TestCheckTimesOutAsUnknown(t *testing.T) {
	var ops []Operation
	// Many concurrent unknown writes and reads on one key make the search
	// explode; a tiny timeout must cut it short.
	for i := range 40 {
		ops = append(ops, op(i, put("a", string(rune('A'+i))), absent, OutcomeUnknown, i, 0))
	}
	for i := range 40 {
		ops = append(ops, op(100+i, get("a"), val(string(rune('A'+(i*7)%40))), OutcomeOK, 50+i, 200+i))
	}
	r, err := Check(historyOf(ops...), CheckOptions{Timeout: time.Millisecond, Dir: t.TempDir()})
	require.NoError(t, err)
	require.Equal(t, porcupine.Unknown, r.Result, r.String())
	require.False(t, r.Passed())
}

func TestClassify(t *testing.T) {
	require.Equal(t, OutcomeOK, Classify(nil))
	require.Equal(t, "unknown", Classify(os.ErrDeadlineExceeded).String())
}
