package consensus

import (
	"encoding/binary"
	"math"
)

// methodApplyBatch carries many forwarded commands in one request. A leader
// that predates it answers rpc.CodeUnknownMethod without running any.
const methodApplyBatch uint8 = 6

// maxBatchCount bounds the commands of one applyBatchRequest.
const maxBatchCount = 1024

// Sizes in a batch request and reply.
const (
	batchCountSize   = 4 // the count (u32)
	batchCmdOverhead = 4 // a command's length (u32)
)

// batchBudget is the most bytes an applyBatchRequest or a batch reply may
// take for maxSize (the MaxMessageSize): any single command or result of
// up to maxSize fits, and the whole fits an RPC frame.
func batchBudget(maxSize int) int { return maxSize + frameOverhead/2 }

// applyBatchRequest: header (forwarded must be set: a batch is only ever
// sent by a server to its leader), count (u32, 1..maxBatchCount), then count
// commands, each a length (u32, at most maxSize) and the bytes.
type applyBatchRequest struct {
	header
	cmds [][]byte
}

// batchRequestSize is the encoded size of a batch request with cmds.
func batchRequestSize(cmds int, cmdBytes int) int {
	return headerSize + batchCountSize + cmds*batchCmdOverhead + cmdBytes
}

func (m applyBatchRequest) encode() []byte {
	size := 0
	for _, c := range m.cmds {
		size += len(c)
	}
	b := appendHeader(make([]byte, 0, batchRequestSize(len(m.cmds), size)), m.header)
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.cmds)))
	for _, c := range m.cmds {
		b = binary.BigEndian.AppendUint32(b, uint32(len(c)))
		b = append(b, c...)
	}
	return b
}

func decodeApplyBatchRequest(b []byte, maxSize int) (applyBatchRequest, error) {
	r := wireReader{b: b}
	var m applyBatchRequest
	m.header = r.header()
	if r.err == nil && !m.forwarded {
		r.fail("batch request without the forwarded flag")
	}
	n := r.count("command count")
	if r.err == nil {
		m.cmds = make([][]byte, 0, n)
	}
	for i := 0; i < n && r.err == nil; i++ {
		m.cmds = append(m.cmds, r.blob(maxSize, "command"))
	}
	return m, r.done()
}

// Kinds of a batch reply item.
const (
	itemOK      uint8 = 0 // the state machine's result follows
	itemSMErr   uint8 = 1 // the state machine's error message follows
	itemErr     uint8 = 2 // an error code (u16) and message follow, as in an RPC error
	itemDropped uint8 = 3 // applied, but the reply had no room for the result
)

// batchItem is the outcome of one command of a batch.
type batchItem struct {
	kind    uint8
	code    uint16 // itemErr only
	payload []byte // result, or error message
}

// batchReply answers an applyBatchRequest: count (u32, equal to the
// request's), then per command a kind (u8); itemErr then has a code (u16);
// itemOK, itemSMErr and itemErr then have a length (u32, at most maxSize)
// and the bytes; itemDropped has nothing more.
type batchReply struct {
	items []batchItem
}

func (it batchItem) size() int {
	switch it.kind {
	case itemDropped:
		return 1
	case itemErr:
		return 1 + 2 + 4 + len(it.payload)
	default:
		return 1 + 4 + len(it.payload)
	}
}

func (m batchReply) encode() []byte {
	size := batchCountSize
	for _, it := range m.items {
		size += it.size()
	}
	b := binary.BigEndian.AppendUint32(make([]byte, 0, size), uint32(len(m.items)))
	for _, it := range m.items {
		b = append(b, it.kind)
		if it.kind == itemDropped {
			continue
		}
		if it.kind == itemErr {
			b = binary.BigEndian.AppendUint16(b, it.code)
		}
		b = binary.BigEndian.AppendUint32(b, uint32(len(it.payload)))
		b = append(b, it.payload...)
	}
	return b
}

func decodeBatchReply(b []byte, maxSize int) (batchReply, error) {
	r := wireReader{b: b}
	var m batchReply
	n := r.count("item count")
	if r.err == nil {
		m.items = make([]batchItem, 0, n)
	}
	for i := 0; i < n && r.err == nil; i++ {
		it := batchItem{kind: r.u8("item kind")}
		switch it.kind {
		case itemOK, itemSMErr:
			it.payload = r.blob(maxSize, "item payload")
		case itemErr:
			it.code = r.u16("item code")
			it.payload = r.blob(maxSize, "item message")
		case itemDropped:
		default:
			r.fail("unknown item kind %d", it.kind)
		}
		m.items = append(m.items, it)
	}
	return m, r.done()
}

// count reads a batch count (u32) in 1..maxBatchCount.
func (r *wireReader) count(what string) int {
	v := r.take(4, what)
	if v == nil {
		return 0
	}
	n := binary.BigEndian.Uint32(v)
	if n == 0 || n > maxBatchCount {
		r.fail("%s %d, allowed 1 to %d", what, n, maxBatchCount)
		return 0
	}
	return int(n)
}

func (r *wireReader) u16(what string) uint16 {
	if v := r.take(2, what); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

// blob reads a length (u32, at most limit) and that many bytes.
func (r *wireReader) blob(limit int, what string) []byte {
	v := r.take(4, what+" length")
	if v == nil {
		return nil
	}
	n := binary.BigEndian.Uint32(v)
	if uint64(n) > uint64(min(limit, math.MaxInt32)) {
		r.fail("%s of %d bytes, at most %d allowed", what, n, limit)
		return nil
	}
	return r.take(int(n), what)
}
