package membership

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMetaRoundTrip(t *testing.T) {
	for _, nm := range []nodeMeta{
		{Role: RoleClient, Protocol: 1, Tags: map[string]string{}},
		{Role: RoleServer, Protocol: 1, RPCAddr: "10.0.0.1:7950", Tags: map[string]string{"zone": "a", "conclave:expect": "3", "empty": ""}},
		{Role: RoleServer, Protocol: 7, RPCAddr: "[::1]:1", Tags: map[string]string{"k": strings.Repeat("v", 300)}},
		{Role: RoleClient, Protocol: 1, Leaving: true, Tags: map[string]string{}},
	} {
		b, err := nm.encode()
		require.NoError(t, err)
		got, err := decodeMeta(b)
		require.NoError(t, err)
		require.Equal(t, nm, got)
		again, err := got.encode()
		require.NoError(t, err)
		require.Equal(t, b, again, "one encoding per value")
	}
}

func TestMetaTooLarge(t *testing.T) {
	nm := nodeMeta{Role: RoleServer, Protocol: 1, Tags: map[string]string{"k": strings.Repeat("v", MetaMaxSize)}}
	_, err := nm.encode()
	require.ErrorIs(t, err, ErrMetaTooLarge)

	// Exactly at the limit is fine.
	nm.Tags["k"] = ""
	b, err := nm.encode()
	require.NoError(t, err)
	nm.Tags["k"] = strings.Repeat("v", MetaMaxSize-len(b)-1) // one more length byte
	b, err = nm.encode()
	require.NoError(t, err)
	require.Equal(t, MetaMaxSize, len(b))
}

func TestMetaDecodeRejects(t *testing.T) {
	valid, err := nodeMeta{Role: RoleServer, Protocol: 1, RPCAddr: "a:1", Tags: map[string]string{"a": "1", "b": "2"}}.encode()
	require.NoError(t, err)
	tests := map[string][]byte{
		"empty":          {},
		"version zero":   {0, 0, 1, 0, 0, 0},
		"unknown role":   {1, 9, 1, 0, 0, 0},
		"protocol zero":  {1, 0, 0, 0, 0, 0},
		"unknown flags":  {1, 0, 1, 2, 0, 0},
		"truncated":      valid[:len(valid)-1],
		"trailing":       append(append([]byte{}, valid...), 0),
		"huge length":    {1, 0, 1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"bad varint":     {1, 0, 1, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01},
		"long varint":    {1, 0, 1, 0, 0x80, 0x00, 0},
		"too many tags":  {1, 0, 1, 0, 0, 200, 1, 'a', 0},
		"empty key":      {1, 0, 1, 0, 0, 1, 0, 1, 'v'},
		"unsorted keys":  {1, 0, 1, 0, 0, 2, 1, 'b', 0, 1, 'a', 0},
		"duplicate keys": {1, 0, 1, 0, 0, 2, 1, 'a', 0, 1, 'a', 0},
		"bad utf8":       {1, 0, 1, 0, 0, 1, 1, 0xff, 0},
		"bad rpc addr":   {1, 0, 1, 0, 3, 'a', 'b', 'c', 0},
		"oversized":      bytes.Repeat([]byte{1}, MetaMaxSize+1),
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := decodeMeta(b)
			require.ErrorIs(t, err, ErrBadMeta)
		})
	}
}

func TestMetaLaterVersionReadsPrefix(t *testing.T) {
	b, err := nodeMeta{Role: RoleServer, Protocol: 2, Tags: map[string]string{"a": "1"}}.encode()
	require.NoError(t, err)
	b[0] = 2
	b = append(b, 0xde, 0xad) // fields a later version appends
	got, err := decodeMeta(b)
	require.NoError(t, err)
	require.Equal(t, RoleServer, got.Role)
	require.Equal(t, "1", got.Tags["a"])
}

// FuzzDecodeMeta checks that decoding arbitrary bytes never panics, stays
// within bounds, and that whatever decodes re-encodes to the same bytes
// (for version 1) and decodes again to the same value.
func FuzzDecodeMeta(f *testing.F) {
	for _, nm := range []nodeMeta{
		{Role: RoleClient, Protocol: 1},
		{Role: RoleServer, Protocol: 1, RPCAddr: "10.0.0.1:7950", Tags: map[string]string{"zone": "a", "x": ""}},
	} {
		b, err := nm.encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{1, 0, 1, 0, 0, 2, 1, 'b', 0, 1, 'a', 0})
	f.Add(binary.AppendUvarint([]byte{2, 1, 1, 0xff}, 1<<40))
	f.Fuzz(func(t *testing.T, b []byte) {
		nm, err := decodeMeta(b)
		if err != nil {
			return
		}
		if len(b) > MetaMaxSize {
			t.Fatalf("accepted %d bytes", len(b))
		}
		enc, err := nm.encode()
		if err != nil {
			t.Fatalf("decoded value does not re-encode: %v", err)
		}
		if b[0] == metaVersion && !bytes.Equal(enc, b) {
			t.Fatalf("re-encoding differs:\n%x\n%x", b, enc)
		}
		again, err := decodeMeta(enc)
		if err != nil {
			t.Fatalf("re-encoded value does not decode: %v", err)
		}
		require.Equal(t, nm, again)
	})
}
