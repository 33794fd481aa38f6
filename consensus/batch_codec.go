package consensus

import "github.com/conclave-go/conclave/internal/wire"

// methodApplyBatch carries many forwarded commands in one request.
const methodApplyBatch uint8 = 6

// maxBatchCount bounds the commands of one applyBatchRequest.
const maxBatchCount = 1024

// batchBudget is the most bytes an applyBatchRequest or a batch reply may
// take for maxSize (the MaxMessageSize): any single command or result of
// up to maxSize fits, and the whole fits an RPC frame.
func batchBudget(maxSize int) int { return maxSize + frameOverhead/2 }

// applyBatchRequest: header (forwarded must be set: a batch is only ever
// sent by a server to its leader), count (varint, 1..maxBatchCount), then
// count commands, each a length (varint, at most maxSize) and the bytes.
type applyBatchRequest struct {
	header
	cmds [][]byte
}

// batchRequestSize is the encoded size of a batch request of n commands
// whose batchCmdSize add up to cmdsSize.
func batchRequestSize(n, cmdsSize int) int {
	return headerSize + wire.UvarintSize(uint64(n)) + cmdsSize
}

// batchCmdSize is the encoded size of cmd in a batch request.
func batchCmdSize(cmd []byte) int { return wire.BytesSize(len(cmd)) }

func (m applyBatchRequest) encode() []byte {
	size := 0
	for _, c := range m.cmds {
		size += batchCmdSize(c)
	}
	b := appendHeader(make([]byte, 0, batchRequestSize(len(m.cmds), size)), m.header)
	b = wire.AppendUvarint(b, uint64(len(m.cmds)))
	for _, c := range m.cmds {
		b = wire.AppendBytes(b, c)
	}
	return b
}

func decodeApplyBatchRequest(b []byte, maxSize int) (applyBatchRequest, error) {
	d := newDecoder(b)
	var m applyBatchRequest
	m.header = readHeader(&d)
	if !m.forwarded {
		d.Failf("batch request without the forwarded flag")
	}
	n := readBatchCount(&d, "command count")
	m.cmds = make([][]byte, 0, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		m.cmds = append(m.cmds, d.Bytes("command", maxSize))
	}
	return m, d.Finish()
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

// batchReply answers an applyBatchRequest: count (varint, equal to the
// request's), then per command a kind (u8); itemErr then has a code (u16);
// itemOK, itemSMErr and itemErr then have a length (varint, at most
// maxSize) and the bytes; itemDropped has nothing more.
type batchReply struct {
	items []batchItem
}

func (it batchItem) size() int {
	switch it.kind {
	case itemDropped:
		return 1
	case itemErr:
		return 1 + 2 + wire.BytesSize(len(it.payload))
	default:
		return 1 + wire.BytesSize(len(it.payload))
	}
}

func (m batchReply) encode() []byte {
	size := wire.UvarintSize(uint64(len(m.items)))
	for _, it := range m.items {
		size += it.size()
	}
	b := wire.AppendUvarint(make([]byte, 0, size), uint64(len(m.items)))
	for _, it := range m.items {
		b = append(b, it.kind)
		if it.kind == itemDropped {
			continue
		}
		if it.kind == itemErr {
			b = wire.AppendUint16(b, it.code)
		}
		b = wire.AppendBytes(b, it.payload)
	}
	return b
}

func decodeBatchReply(b []byte, maxSize int) (batchReply, error) {
	d := newDecoder(b)
	var m batchReply
	n := readBatchCount(&d, "item count")
	m.items = make([]batchItem, 0, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		it := batchItem{kind: d.Uint8("item kind")}
		switch it.kind {
		case itemOK, itemSMErr:
			it.payload = d.Bytes("item payload", maxSize)
		case itemErr:
			it.code = d.Uint16("item code")
			it.payload = d.Bytes("item message", maxSize)
		case itemDropped:
		default:
			d.Failf("unknown item kind %d", it.kind)
		}
		m.items = append(m.items, it)
	}
	return m, d.Finish()
}

// readBatchCount reads the count of a batch: 1..maxBatchCount, each item
// taking at least one byte.
func readBatchCount(d *wire.Decoder, what string) int {
	n := d.Count(what, maxBatchCount, 1)
	if n == 0 {
		d.Failf("%s 0, at least 1 required", what)
	}
	return n
}
