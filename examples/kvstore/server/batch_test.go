package server

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func applyBatchOps(t *testing.T, s *store, atomic bool, ops ...batchOp) []batchResult {
	t.Helper()
	res, err := s.Apply(encodeBatch(atomic, ops))
	require.NoError(t, err)
	out, err := decodeBatchResult(res, len(ops))
	require.NoError(t, err)
	return out
}

func codes(rs []batchResult) []byte {
	out := make([]byte, len(rs))
	for i, r := range rs {
		out[i] = r.code
	}
	return out
}

func put(key, value string) batchOp { return batchOp{kind: opPut, key: key, value: []byte(value)} }
func cas(key, prev, value string) batchOp {
	return batchOp{kind: opCAS, key: key, prev: prev, value: []byte(value)}
}
func del(key string) batchOp   { return batchOp{kind: opDelete, key: key} }
func getOp(key string) batchOp { return batchOp{kind: batchGet, key: key} }

// Each operation of a plain batch stands alone, in order: a get sees the
// writes before it, a failed CAS skips only itself.
func TestBatchEachOperationAlone(t *testing.T) {
	s := newStore(1 << 20)
	rs := applyBatchOps(t, s, false,
		put("a", "1"), cas("a", "1", "2"), getOp("a"), cas("a", "1", "3"), del("b"), getOp("b"), put("b", ""), getOp("b"))
	require.Equal(t, []byte{codeOK, codeOK, codeFound, codeMismatch, codeOK, codeNotFound, codeOK, codeFound}, codes(rs))
	require.Equal(t, "2", string(rs[2].value))
	require.Empty(t, rs[7].value)
	v, _ := get(t, s, "a")
	require.Equal(t, "2", string(v))
}

// An atomic batch whose CAS fails leaves the store as it was, even for keys
// it wrote several times, and says which operation failed.
func TestBatchAtomicUndoesEverything(t *testing.T) {
	s := newStore(1 << 20)
	require.Equal(t, resultOK, apply(t, s, encodePut("a", []byte("old"))))
	rs := applyBatchOps(t, s, true,
		put("a", "x"), del("a"), put("new", "1"), put("new", "2"), getOp("new"), cas("a", "x", "y"), put("c", "1"))
	require.Equal(t, []byte{codeNotApplied, codeNotApplied, codeNotApplied, codeNotApplied, codeNotApplied, codeMismatch, codeNotApplied}, codes(rs))
	v, ok := get(t, s, "a")
	require.True(t, ok)
	require.Equal(t, "old", string(v))
	for _, k := range []string{"new", "c"} {
		_, ok := get(t, s, k)
		require.False(t, ok, k)
	}

	// The same batch whose CAS holds (on the batch's own write) applies whole.
	rs = applyBatchOps(t, s, true, put("a", "x"), cas("a", "x", "y"), put("c", "1"), getOp("a"))
	require.Equal(t, []byte{codeOK, codeOK, codeOK, codeFound}, codes(rs))
	require.Equal(t, "y", string(rs[3].value))
}

// Two stores in the same state give the same result for the same batch and
// end in the same state: the batch is deterministic.
func TestBatchDeterministic(t *testing.T) {
	ops := []batchOp{put("k1", "a"), cas("k2", "", "b"), getOp("k1"), del("k1"), put("k3", "c"), cas("k3", "c", "d")}
	var results [][]byte
	var states []map[string][]byte
	for range 2 {
		s := newStore(1 << 20)
		require.Equal(t, resultOK, apply(t, s, encodePut("k2", []byte("z"))))
		res, err := s.Apply(encodeBatch(false, ops))
		require.NoError(t, err)
		results = append(results, res)
		states = append(states, s.data)
	}
	require.Equal(t, results[0], results[1])
	require.Equal(t, states[0], states[1])
}

// Gets whose values would take the result over the message limit answer
// codeTooLarge; the others still answer.
func TestBatchResultBounded(t *testing.T) {
	const limit = 4096
	s := newStore(limit)
	big := string(bytes.Repeat([]byte{'v'}, 3000))
	rs := applyBatchOps(t, s, false, put("a", big), put("b", big), put("c", "small"), getOp("a"), getOp("b"), getOp("c"))
	require.Equal(t, []byte{codeOK, codeOK, codeOK, codeFound, codeTooLarge, codeFound}, codes(rs))
	require.Equal(t, "small", string(rs[5].value))
}

// A malformed batch is refused before it changes anything.
func TestBatchMalformedChangesNothing(t *testing.T) {
	s := newStore(1 << 20)
	good := encodeBatch(false, []batchOp{put("a", "1"), put("b", "2")})
	for name, cmd := range map[string][]byte{
		"truncated":    good[:len(good)-1],
		"trailing":     append(append([]byte{}, good...), 0),
		"bad mode":     append([]byte{opBatch, 9}, good[2:]...),
		"huge count":   {opBatch, batchEach, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"unknown kind": {opBatch, batchEach, 1, 'Z', 1, 'k'},
		"empty":        {opBatch},
	} {
		_, err := s.Apply(cmd)
		require.ErrorIs(t, err, errMalformed, name)
	}
	require.Empty(t, s.data, "nothing applied")
}

func TestBatchRoundTrip(t *testing.T) {
	ops := []batchOp{put("a", "1"), cas("b", "old", "new"), del("c"), getOp("d"), put("e", "")}
	atomic, got, err := decodeBatch(encodeBatch(true, ops)[1:])
	require.NoError(t, err)
	require.True(t, atomic)
	require.Len(t, got, len(ops))
	for i := range ops {
		require.Equal(t, ops[i].kind, got[i].kind)
		require.Equal(t, ops[i].key, got[i].key)
		require.Equal(t, ops[i].prev, got[i].prev)
		require.Equal(t, string(ops[i].value), string(got[i].value))
	}
}
