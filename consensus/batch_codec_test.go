package consensus

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/wire"
)

func TestBatchCodecRoundTrips(t *testing.T) {
	const max = 1 << 10
	req := applyBatchRequest{header: header{forwarded: true}, cmds: [][]byte{[]byte("set:a=1"), {}, bytes.Repeat([]byte{7}, max)}}
	got, err := decodeApplyBatchRequest(req.encode(), max)
	require.NoError(t, err)
	require.Equal(t, req.cmds, got.cmds)
	require.True(t, got.forwarded)
	cmdsSize := 0
	for _, c := range req.cmds {
		cmdsSize += batchCmdSize(c)
	}
	require.Len(t, req.encode(), batchRequestSize(3, cmdsSize))

	reply := batchReply{items: []batchItem{
		{kind: itemOK, payload: []byte("v")},
		{kind: itemSMErr, payload: []byte("boom")},
		{kind: itemErr, code: codeOutcomeUnknown, payload: []byte("lost")},
		{kind: itemDropped},
	}}
	gotReply, err := decodeBatchReply(reply.encode(), max)
	require.NoError(t, err)
	require.Equal(t, reply, gotReply)
}

func TestBatchCodecRejects(t *testing.T) {
	const max = 16
	uv := func(v uint64) []byte { return wire.AppendUvarint(nil, v) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for name, b := range map[string][]byte{
		"empty":               {},
		"not forwarded":       cat([]byte{0}, uv(1), uv(1), []byte("x")),
		"unknown flags":       cat([]byte{3}, uv(1), uv(1), []byte("x")),
		"zero commands":       cat([]byte{1}, uv(0)),
		"too many commands":   cat([]byte{1}, uv(maxBatchCount+1)),
		"command too large":   cat([]byte{1}, uv(1), uv(max+1), make([]byte, max+1)),
		"truncated command":   cat([]byte{1}, uv(1), uv(5), []byte("abc")),
		"missing command":     cat([]byte{1}, uv(2), uv(1), []byte("x")),
		"trailing bytes":      cat([]byte{1}, uv(1), uv(1), []byte("xy")),
		"huge length":         cat([]byte{1}, uv(1), uv(1<<62)),
		"truncated count":     {1, 0x80},
		"truncated length":    cat([]byte{1}, uv(1), []byte{0x80}),
		"length not shortest": cat([]byte{1}, uv(1), []byte{0x81, 0x00}, []byte("x")),
		"count not matching":  cat([]byte{1}, uv(3), uv(0), uv(0)),
	} {
		_, err := decodeApplyBatchRequest(b, max)
		require.ErrorIs(t, err, ErrProtocol, name)
	}
	for name, b := range map[string][]byte{
		"empty":          {},
		"zero items":     uv(0),
		"too many items": uv(maxBatchCount + 1),
		"unknown kind":   cat(uv(1), []byte{4}),
		"result too big": cat(uv(1), []byte{itemOK}, uv(max+1), make([]byte, max+1)),
		"truncated code": cat(uv(1), []byte{itemErr, 0}),
		"trailing bytes": cat(uv(1), []byte{itemDropped, 0}),
		"missing item":   cat(uv(2), []byte{itemDropped}),
	} {
		_, err := decodeBatchReply(b, max)
		require.ErrorIs(t, err, ErrProtocol, name)
	}
}

// A batch reply never outgrows its budget: results that do not fit become
// itemDropped (the caller learns the outcome is unknown), the others keep
// their place.
func TestBatchReplyBudget(t *testing.T) {
	n := &Node{cfg: Config{Tuning: Tuning{MaxMessageSize: minMessageSize}}}
	big := bytes.Repeat([]byte{1}, minMessageSize)
	outs := []batchOutcome{{data: []byte("a")}, {data: big}, {data: big}, {data: []byte("b")}, {err: &StateMachineError{Err: errTest("bad")}}}
	reply := n.batchReply(outs)
	require.LessOrEqual(t, len(reply.encode()), batchBudget(minMessageSize))
	kinds := make([]uint8, len(reply.items))
	for i, it := range reply.items {
		kinds[i] = it.kind
	}
	require.Equal(t, []uint8{itemOK, itemOK, itemDropped, itemOK, itemSMErr}, kinds)
	_, err := reply.items[2].value()
	require.ErrorIs(t, err, ErrOutcomeUnknown)

	// A result larger than MaxMessageSize is reported as unbatched.
	reply = n.batchReply([]batchOutcome{{data: append(big, 0)}})
	_, err = reply.items[0].value()
	require.ErrorIs(t, err, ErrOutcomeUnknown)
}

type errTest string

func (e errTest) Error() string { return string(e) }
