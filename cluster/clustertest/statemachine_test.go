package clustertest

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func applyOK(t *testing.T, kv *KV, req KVRequest) KVResult {
	t.Helper()
	b, err := kv.Apply(req.Encode())
	require.NoError(t, err)
	res, err := DecodeKVResult(b)
	require.NoError(t, err)
	return res
}

func TestKVCommands(t *testing.T) {
	kv := NewKV()
	require.Equal(t, KVResult{OK: true}, applyOK(t, kv, put("a", "1")))
	require.Equal(t, KVResult{Value: "1", Found: true, OK: true}, applyOK(t, kv, put("a", "2")))
	require.Equal(t, KVResult{Value: "2", Found: true}, applyOK(t, kv, cas("a", "1", "3")), "mismatch: no swap")
	require.Equal(t, KVResult{Value: "2", Found: true, OK: true}, applyOK(t, kv, cas("a", "2", "3")))
	require.Equal(t, KVResult{}, applyOK(t, kv, cas("b", "", "x")), "a missing key never matches")
	require.Equal(t, KVResult{Value: "3", Found: true}, applyOK(t, kv, get("a")))
	require.Equal(t, KVResult{Value: "3", Found: true, OK: true}, applyOK(t, kv, del("a")))
	require.Equal(t, KVResult{OK: true}, applyOK(t, kv, del("a")))

	applyOK(t, kv, put("q", "v"))
	b, err := kv.Query(get("q").Encode())
	require.NoError(t, err)
	res, err := DecodeKVResult(b)
	require.NoError(t, err)
	require.Equal(t, KVResult{Value: "v", Found: true}, res)
	_, err = kv.Query(put("q", "w").Encode())
	require.Error(t, err, "a query must not write")
}

func TestKVRejectsMalformedInput(t *testing.T) {
	kv := NewKV()
	for _, in := range []string{"", "{", `{"op":"explode","key":"a"}`, `[1,2]`, strings.Repeat("x", maxKVRequest+1)} {
		_, err := kv.Apply([]byte(in))
		require.Error(t, err, "%.20q", in)
		_, err = kv.Query([]byte(in))
		require.Error(t, err, "%.20q", in)
	}
	require.Empty(t, kv.Data())
}

func TestKVSnapshotRestore(t *testing.T) {
	kv := NewKV()
	applyOK(t, kv, put("a", "1"))
	applyOK(t, kv, put("b", "2"))
	snap, err := kv.Snapshot()
	require.NoError(t, err)
	applyOK(t, kv, put("c", "later"))
	var buf bytes.Buffer
	require.NoError(t, snap.Write(&buf))
	snap.Release()

	restored := NewKV()
	applyOK(t, restored, put("junk", "x"))
	require.NoError(t, restored.Restore(&buf))
	require.Equal(t, map[string]string{"a": "1", "b": "2"}, restored.Data())
	require.Error(t, restored.Restore(strings.NewReader("not json")))
}

func TestKVRequestString(t *testing.T) {
	require.Equal(t, "put(k, v)", put("k", "v").String())
	require.Equal(t, "cas(k, a→b)", cas("k", "a", "b").String())
	require.Equal(t, "get(k)", get("k").String())
	require.Equal(t, "delete(k)", del("k").String())
}
