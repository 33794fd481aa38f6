package server

import (
	"maps"
	"testing"

	"github.com/stretchr/testify/require"
)

// seededStore returns a store holding a few keys, with a small entry limit
// so that a batch's result bound is reached.
func seededStore() *store {
	s := newStore(64)
	for k, v := range map[string]string{"a": "1", "b": "", "long": "0123456789012345678901234567890123456789"} {
		s.data[k] = []byte(v)
	}
	return s
}

// FuzzStoreApply applies any command to two identical stores: neither
// panics, both end the same with the same result (every server computes
// the same), and a command that fails to decode changes nothing.
func FuzzStoreApply(f *testing.F) {
	f.Add(encodePut("a", []byte("2")))
	f.Add(encodeCAS("a", "1", []byte("2")))
	f.Add(encodeDelete("b"))
	f.Add(encodeBatch(true, []batchOp{put("a", "1"), cas("b", "x", "y"), getOp("long")}))
	f.Add(encodeBatch(false, []batchOp{getOp("a"), del("a"), getOp("long"), getOp("long")}))
	f.Fuzz(func(t *testing.T, cmd []byte) {
		one, two := seededStore(), seededStore()
		before := maps.Clone(one.data)
		res1, err1 := one.Apply(cmd)
		res2, err2 := two.Apply(cmd)
		require.Equal(t, err1 == nil, err2 == nil)
		require.Equal(t, res1, res2)
		require.Equal(t, one.data, two.data)
		if err1 != nil {
			require.Equal(t, before, one.data, "a command that fails changes nothing")
		}
	})
}
