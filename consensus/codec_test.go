package consensus

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/wire"
)

func sampleStatus() Status {
	return Status{
		Name: "n1", Addr: "10.0.0.1:7950", State: StateFollower, Term: 7,
		Leader:      LeaderInfo{Name: "n2", Addr: "10.0.0.2:7950", Term: 7},
		LastContact: 1500 * time.Millisecond, CommitIndex: 100, AppliedIndex: 99,
		LastLogIndex: 101, ConfigurationIndex: 3, LastSnapshotIndex: 64, SnapshotFailures: 1,
		HasState: true,
	}
}

func TestCodecRoundTrips(t *testing.T) {
	const max = 1 << 10
	ar := applyRequest{header: header{forwarded: true}, cmd: []byte("set:a=1")}
	gotAR, err := decodeApplyRequest(ar.encode(), max)
	require.NoError(t, err)
	require.Equal(t, ar, gotAR)

	for _, r := range []result{{payload: []byte("ok")}, {smErr: true, payload: []byte("boom")}} {
		got, err := decodeResult(r.encode(), max)
		require.NoError(t, err)
		require.Equal(t, r, got)
	}

	ri, err := decodeReadIndexResponse(readIndexResponse{index: 42}.encode())
	require.NoError(t, err)
	require.Equal(t, uint64(42), ri.index)
	_, err = decodeReadIndexRequest(readIndexRequest{header{forwarded: true}}.encode())
	require.NoError(t, err)

	qr := queryRequest{header: header{}, level: Leader, query: []byte("get:a")}
	gotQR, err := decodeQueryRequest(qr.encode(), max)
	require.NoError(t, err)
	require.Equal(t, qr, gotQR)

	for _, cr := range []changeRequest{
		{header: header{forwarded: true}, op: opAddVoter, id: "n3", addr: "127.0.0.1:1"},
		{op: opRemove, id: strings.Repeat("n", maxStringSize)},
	} {
		gotCR, err := decodeChangeRequest(cr.encode())
		require.NoError(t, err)
		require.Equal(t, cr, gotCR)
	}

	st := sampleStatus()
	gotSt, err := decodeStatus(encodeStatus(st))
	require.NoError(t, err)
	require.Equal(t, st, gotSt)
	st.LastContact, st.Leader = -1, LeaderInfo{}
	gotSt, err = decodeStatus(encodeStatus(st))
	require.NoError(t, err)
	require.Equal(t, st, gotSt)
	st.StorageError = "disk full: writes to the Raft log fail"
	gotSt, err = decodeStatus(encodeStatus(st))
	require.NoError(t, err)
	require.Equal(t, st, gotSt)
}

func TestCodecRejectsMalformed(t *testing.T) {
	const max = 8
	cases := map[string]func() error{
		"empty apply":         func() error { _, err := decodeApplyRequest(nil, max); return err },
		"unknown flag":        func() error { _, err := decodeApplyRequest([]byte{0x80, 'x'}, max); return err },
		"command too large":   func() error { _, err := decodeApplyRequest(append([]byte{0}, make([]byte, max+1)...), max); return err },
		"unknown result kind": func() error { _, err := decodeResult([]byte{9}, max); return err },
		"short read index":    func() error { _, err := decodeReadIndexResponse([]byte{1, 2}); return err },
		"trailing bytes":      func() error { _, err := decodeReadIndexRequest([]byte{0, 0}); return err },
		"unknown level":       func() error { _, err := decodeQueryRequest([]byte{0, 9}, max); return err },
		"unknown op":          func() error { _, err := decodeChangeRequest([]byte{0, 99, 0, 0}); return err },
		"empty id":            func() error { _, err := decodeChangeRequest([]byte{0, byte(opRemove), 0, 0}); return err },
		"truncated string":    func() error { _, err := decodeChangeRequest([]byte{0, byte(opRemove), 5, 'a'}); return err },
		"string too long": func() error {
			b := wire.AppendString([]byte{0, byte(opRemove)}, strings.Repeat("a", maxStringSize+1))
			_, err := decodeChangeRequest(wire.AppendString(b, ""))
			return err
		},
		"length not shortest": func() error { _, err := decodeChangeRequest([]byte{0, byte(opRemove), 0x81, 0, 'a', 0}); return err },
		"truncated status":    func() error { _, err := decodeStatus(encodeStatus(sampleStatus())[:20]); return err },
		"unknown state":       func() error { b := encodeStatus(sampleStatus()); b[0] = 9; _, err := decodeStatus(b); return err },
		"empty storage error": func() error {
			b := encodeStatus(sampleStatus())
			b[1] |= statusStorageError
			_, err := decodeStatus(append(b, 0))
			return err
		},
	}
	for name, decode := range cases {
		err := decode()
		require.ErrorIs(t, err, ErrProtocol, name)
	}
}

func TestSnapshotHeader(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, writeSnapshotHeader(&buf, 1234))
	idx, err := readSnapshotHeader(&buf)
	require.NoError(t, err)
	require.Equal(t, uint64(1234), idx)
	for _, bad := range []string{"", "cncl", "xxxx\x01\x00\x00\x00\x00\x00\x00\x00\x01", "cncl\x09\x00\x00\x00\x00\x00\x00\x00\x01"} {
		_, err := readSnapshotHeader(strings.NewReader(bad))
		require.Error(t, err, "%q", bad)
	}
}
