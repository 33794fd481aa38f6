package server

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

func get(t *testing.T, s *store, key string) ([]byte, bool) {
	t.Helper()
	res, err := s.Query(encodeGet(key))
	require.NoError(t, err)
	v, ok, err := decodeGet(res)
	require.NoError(t, err)
	return v, ok
}

func apply(t *testing.T, s *store, cmd []byte) byte {
	t.Helper()
	res, err := s.Apply(cmd)
	require.NoError(t, err)
	require.Len(t, res, 1)
	return res[0]
}

func TestStoreCommands(t *testing.T) {
	s := newStore(1 << 20)
	_, ok := get(t, s, "k")
	require.False(t, ok)

	cmd := encodePut("k", []byte("v1"))
	require.Equal(t, resultOK, apply(t, s, cmd))
	cmd[len(cmd)-1] = 'X' // the store keeps its own copy of the value
	v, ok := get(t, s, "k")
	require.True(t, ok)
	require.Equal(t, "v1", string(v))

	require.Equal(t, resultMismatch, apply(t, s, encodeCAS("k", "v0", []byte("v2"))))
	require.Equal(t, resultMismatch, apply(t, s, encodeCAS("absent", "", []byte("v2"))))
	require.Equal(t, resultOK, apply(t, s, encodeCAS("k", "v1", []byte("v2"))))
	v, _ = get(t, s, "k")
	require.Equal(t, "v2", string(v))

	require.Equal(t, resultOK, apply(t, s, encodePut("empty", nil)))
	v, ok = get(t, s, "empty")
	require.True(t, ok, "an empty value is present")
	require.Empty(t, v)

	require.Equal(t, resultOK, apply(t, s, encodeDelete("k")))
	_, ok = get(t, s, "k")
	require.False(t, ok)
}

func TestStoreRejectsMalformed(t *testing.T) {
	s := newStore(1 << 20)
	for _, cmd := range [][]byte{
		nil,
		{opPut},
		{opPut, 5, 'a'},
		{opCAS, 1, 'k', 9},
		append(encodeDelete("k"), 'x'),
		{'?', 1, 'k'},
	} {
		_, err := s.Apply(cmd)
		require.ErrorIs(t, err, errMalformed, "cmd %q", cmd)
	}
	for _, q := range [][]byte{nil, {'?'}} {
		_, err := s.Query(q)
		require.ErrorIs(t, err, errMalformed, "query %q", q)
	}
	_, _, err := decodeGet([]byte{7})
	require.ErrorIs(t, err, errMalformed)
}

func TestSnapshotRoundTrip(t *testing.T) {
	s := newStore(1 << 20)
	for i := range 100 {
		apply(t, s, encodePut(fmt.Sprintf("key-%d", i), bytes.Repeat([]byte{byte(i)}, i*10)))
	}
	apply(t, s, encodePut("", nil))
	snap, err := s.Snapshot()
	require.NoError(t, err)
	// Writes after Snapshot do not change what it streams.
	apply(t, s, encodePut("later", []byte("x")))
	apply(t, s, encodeDelete("key-1"))
	var buf bytes.Buffer
	require.NoError(t, snap.Write(&buf))
	snap.Release()

	r := newStore(1 << 20)
	apply(t, r, encodePut("stale", []byte("gone after restore")))
	require.NoError(t, r.Restore(&buf))
	require.Len(t, r.data, 101)
	_, ok := r.data["stale"]
	require.False(t, ok)
	_, ok = r.data["later"]
	require.False(t, ok)
	require.Equal(t, bytes.Repeat([]byte{1}, 10), r.data["key-1"])
	require.Equal(t, bytes.Repeat([]byte{99}, 990), r.data["key-99"])
}

func TestRestoreRejectsCorruptStreams(t *testing.T) {
	var good bytes.Buffer
	require.NoError(t, writeSnapshot(&good, map[string][]byte{"k": []byte("value")}))
	full := good.Bytes()
	for name, stream := range map[string][]byte{
		"empty":          nil,
		"bad magic":      []byte("nope\x00"),
		"no terminator":  full[:len(full)-1],
		"cut in value":   full[:len(full)-3],
		"oversized key":  append([]byte(snapshotMagic), 0xff, 0xff, 0xff, 0x7f),
		"oversized data": append([]byte(snapshotMagic+"\x02k"), 0xff, 0xff, 0x7f),
	} {
		t.Run(name, func(t *testing.T) {
			s := newStore(1 << 10)
			apply(t, s, encodePut("kept", []byte("v")))
			require.Error(t, s.Restore(bytes.NewReader(stream)))
			_, ok := get(t, s, "kept")
			require.True(t, ok, "a failed restore leaves the state alone")
		})
	}
	// A stream that ends before its terminator is an unexpected EOF.
	_, err := readSnapshot(bufioReader(full[:len(full)-1]), 1<<10)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }
