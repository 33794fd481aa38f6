package consensus

import (
	"fmt"
	"math"
	"time"

	"github.com/conclave-go/conclave/internal/wire"
)

// RPC methods carried on the node's RPC byte. Every request starts with a
// header; the body layout of each is documented on its type. Fields are
// encoded by internal/wire: integers fixed-size and big-endian, lengths and
// counts varints, strings (at most maxStringSize bytes) a length then the
// bytes.
const (
	methodApply     uint8 = 1
	methodReadIndex uint8 = 2
	methodQuery     uint8 = 3
	methodChange    uint8 = 4
	methodStatus    uint8 = 5
)

// header flags.
const (
	flagForwarded uint8 = 1 << 0
	knownFlags          = flagForwarded
)

// headerSize is the size of the header: one flags byte.
const headerSize = 1

// header precedes every request. Forwarded marks a request sent by a server
// to its leader: it is never forwarded again. (The caller's deadline travels
// in the RPC frame itself.)
type header struct {
	forwarded bool
}

// maxStringSize bounds every string of a message (server IDs and
// addresses).
const maxStringSize = math.MaxUint8

// newDecoder returns a decoder of b whose errors match ErrProtocol.
func newDecoder(b []byte) wire.Decoder { return wire.NewDecoder(b, ErrProtocol) }

func readHeader(d *wire.Decoder) header {
	flags := d.Uint8("flags")
	if flags&^knownFlags != 0 {
		d.Failf("unknown flags %#x", flags)
	}
	return header{forwarded: flags&flagForwarded != 0}
}

func appendHeader(b []byte, h header) []byte {
	var flags uint8
	if h.forwarded {
		flags |= flagForwarded
	}
	return append(b, flags)
}

// applyRequest: header, then the command (the rest of the frame).
type applyRequest struct {
	header
	cmd []byte
}

func (m applyRequest) encode() []byte {
	b := appendHeader(make([]byte, 0, headerSize+len(m.cmd)), m.header)
	return append(b, m.cmd...)
}

func decodeApplyRequest(b []byte, maxSize int) (applyRequest, error) {
	d := newDecoder(b)
	var m applyRequest
	m.header = readHeader(&d)
	m.cmd = d.Rest("command", maxSize)
	return m, d.Finish()
}

// result answers an apply or a query: a kind byte (0: the state machine
// returned data; 1: it returned an error, whose message follows), then the
// payload (the rest of the frame).
type result struct {
	smErr   bool
	payload []byte
}

const (
	resultOK    uint8 = 0
	resultSMErr uint8 = 1
)

func (m result) encode() []byte {
	kind := resultOK
	if m.smErr {
		kind = resultSMErr
	}
	return append(append(make([]byte, 0, 1+len(m.payload)), kind), m.payload...)
}

func decodeResult(b []byte, maxSize int) (result, error) {
	d := newDecoder(b)
	var m result
	switch kind := d.Uint8("result kind"); kind {
	case resultOK:
	case resultSMErr:
		m.smErr = true
	default:
		d.Failf("unknown result kind %d", kind)
	}
	m.payload = d.Rest("result", maxSize)
	return m, d.Finish()
}

// readIndexRequest: the header only.
type readIndexRequest struct{ header }

func (m readIndexRequest) encode() []byte { return appendHeader(nil, m.header) }

func decodeReadIndexRequest(b []byte) (readIndexRequest, error) {
	d := newDecoder(b)
	m := readIndexRequest{header: readHeader(&d)}
	return m, d.Finish()
}

// readIndexResponse: the index (u64) a linearizable read must wait for.
type readIndexResponse struct{ index uint64 }

func (m readIndexResponse) encode() []byte { return wire.AppendUint64(nil, m.index) }

func decodeReadIndexResponse(b []byte) (readIndexResponse, error) {
	d := newDecoder(b)
	m := readIndexResponse{index: d.Uint64("index")}
	return m, d.Finish()
}

// queryRequest: header, read level (u8), then the query (the rest).
type queryRequest struct {
	header
	level ReadLevel
	query []byte
}

func (m queryRequest) encode() []byte {
	b := appendHeader(make([]byte, 0, headerSize+1+len(m.query)), m.header)
	b = append(b, uint8(m.level))
	return append(b, m.query...)
}

func decodeQueryRequest(b []byte, maxSize int) (queryRequest, error) {
	d := newDecoder(b)
	var m queryRequest
	m.header = readHeader(&d)
	m.level = ReadLevel(d.Uint8("level"))
	if !m.level.valid() {
		d.Failf("unknown read level %d", m.level)
	}
	m.query = d.Rest("query", maxSize)
	return m, d.Finish()
}

// changeOp is a membership change carried by changeRequest.
type changeOp uint8

const (
	opAddVoter changeOp = iota + 1
	opAddNonVoter
	opDemote
	opRemove
	opTransfer
)

func (o changeOp) valid() bool { return o >= opAddVoter && o <= opTransfer }

func (o changeOp) String() string {
	switch o {
	case opAddVoter:
		return "add-voter"
	case opAddNonVoter:
		return "add-nonvoter"
	case opDemote:
		return "demote"
	case opRemove:
		return "remove"
	case opTransfer:
		return "transfer-leadership"
	default:
		return fmt.Sprintf("op(%d)", uint8(o))
	}
}

// changeRequest: header, op (u8), server ID (string), address (string).
// For opTransfer the ID names the target, or is empty for any.
type changeRequest struct {
	header
	op   changeOp
	id   string
	addr string
}

func (m changeRequest) encode() []byte {
	b := appendHeader(make([]byte, 0, headerSize+1+wire.BytesSize(len(m.id))+wire.BytesSize(len(m.addr))), m.header)
	b = append(b, uint8(m.op))
	b = wire.AppendString(b, m.id)
	return wire.AppendString(b, m.addr)
}

func decodeChangeRequest(b []byte) (changeRequest, error) {
	d := newDecoder(b)
	var m changeRequest
	m.header = readHeader(&d)
	m.op = changeOp(d.Uint8("op"))
	if !m.op.valid() {
		d.Failf("unknown membership op %d", m.op)
	}
	m.id = d.String("id", maxStringSize)
	m.addr = d.String("addr", maxStringSize)
	if m.id == "" && m.op != opTransfer {
		d.Failf("%v without a server ID", m.op)
	}
	return m, d.Finish()
}

// statusRequest: the header only.
type statusRequest struct{ header }

func (m statusRequest) encode() []byte { return appendHeader(nil, m.header) }

func decodeStatusRequest(b []byte) (statusRequest, error) {
	d := newDecoder(b)
	m := statusRequest{header: readHeader(&d)}
	return m, d.Finish()
}

// Status response layout: state (u8), flags (u8, bit 0: has state), term,
// commit, applied, last log, configuration, last snapshot indexes and
// snapshot failures (u64 each), last contact age in nanoseconds (u64,
// all ones: never), then the strings ID, address, leader ID, leader address,
// and the storage error when flag bit 1 is set.
const (
	statusHasState     uint8 = 1 << 0
	statusStorageError uint8 = 1 << 1
	statusKnownFlags         = statusHasState | statusStorageError
	statusNeverContact       = math.MaxUint64
)

func encodeStatus(s Status) []byte {
	size := 2 + 8*8
	for _, str := range []string{s.Name, s.Addr, s.Leader.Name, s.Leader.Addr} {
		size += wire.BytesSize(len(str))
	}
	var flags uint8
	if s.HasState {
		flags |= statusHasState
	}
	storageErr := clip(s.StorageError)
	if storageErr != "" {
		flags |= statusStorageError
		size += wire.BytesSize(len(storageErr))
	}
	b := make([]byte, 0, size)
	b = append(b, uint8(s.State), flags)
	for _, v := range []uint64{s.Term, s.CommitIndex, s.AppliedIndex, s.LastLogIndex,
		s.ConfigurationIndex, s.LastSnapshotIndex, s.SnapshotFailures} {
		b = wire.AppendUint64(b, v)
	}
	age := uint64(statusNeverContact)
	if s.LastContact >= 0 {
		age = uint64(s.LastContact)
	}
	b = wire.AppendUint64(b, age)
	for _, str := range []string{s.Name, s.Addr, s.Leader.Name, s.Leader.Addr} {
		b = wire.AppendString(b, str)
	}
	if storageErr != "" {
		b = wire.AppendString(b, storageErr)
	}
	return b
}

func decodeStatus(b []byte) (Status, error) {
	d := newDecoder(b)
	var s Status
	s.State = State(d.Uint8("state"))
	if !s.State.valid() {
		d.Failf("unknown state %d", s.State)
	}
	flags := d.Uint8("flags")
	if flags&^statusKnownFlags != 0 {
		d.Failf("unknown status flags %#x", flags)
	}
	s.HasState = flags&statusHasState != 0
	for _, p := range []*uint64{&s.Term, &s.CommitIndex, &s.AppliedIndex, &s.LastLogIndex,
		&s.ConfigurationIndex, &s.LastSnapshotIndex, &s.SnapshotFailures} {
		*p = d.Uint64("status field")
	}
	age := d.Uint64("last contact")
	switch {
	case age == statusNeverContact:
		s.LastContact = -1
	case age > math.MaxInt64:
		d.Failf("last contact %d out of range", age)
	default:
		s.LastContact = time.Duration(age)
	}
	s.Name = d.String("id", maxStringSize)
	s.Addr = d.String("addr", maxStringSize)
	s.Leader.Name = d.String("leader id", maxStringSize)
	s.Leader.Addr = d.String("leader addr", maxStringSize)
	s.Leader.Term = s.Term
	if s.Leader.Name == "" {
		s.Leader.Term = 0
	}
	if flags&statusStorageError != 0 {
		if s.StorageError = d.String("storage error", maxRemoteMessage); s.StorageError == "" {
			d.Failf("storage error flag set with an empty message")
		}
	}
	return s, d.Finish()
}
