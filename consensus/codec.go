package consensus

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// RPC methods carried on the node's RPC byte. Every request starts with a
// header; the body layout of each is documented on its type. All integers are
// big-endian; strings are a one-byte length then the bytes.
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

// wireReader decodes a message, remembering the first error.
type wireReader struct {
	b   []byte
	err error
}

func (r *wireReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
	}
}

func (r *wireReader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.fail("%s: need %d bytes, have %d", what, n, len(r.b))
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *wireReader) u8(what string) uint8 {
	if v := r.take(1, what); v != nil {
		return v[0]
	}
	return 0
}

func (r *wireReader) u64(what string) uint64 {
	if v := r.take(8, what); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (r *wireReader) str(what string) string {
	n := int(r.u8(what + " length"))
	return string(r.take(n, what))
}

// rest returns the remaining bytes, at most limit of them.
func (r *wireReader) rest(limit int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) > limit {
		r.fail("%s: %d bytes, at most %d allowed", what, len(r.b), limit)
		return nil
	}
	v := r.b
	r.b = nil
	return v
}

// done reports the first error, or trailing bytes.
func (r *wireReader) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	return r.err
}

func (r *wireReader) header() header {
	flags := r.u8("flags")
	if flags&^knownFlags != 0 {
		r.fail("unknown flags %#x", flags)
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

func appendStr(b []byte, s string) []byte {
	if len(s) > math.MaxUint8 {
		s = s[:math.MaxUint8] // callers validate lengths; never reached
	}
	b = append(b, uint8(len(s)))
	return append(b, s...)
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
	r := wireReader{b: b}
	var m applyRequest
	m.header = r.header()
	m.cmd = r.rest(maxSize, "command")
	return m, r.done()
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
	r := wireReader{b: b}
	var m result
	switch kind := r.u8("result kind"); kind {
	case resultOK:
	case resultSMErr:
		m.smErr = true
	default:
		r.fail("unknown result kind %d", kind)
	}
	m.payload = r.rest(maxSize, "result")
	return m, r.done()
}

// readIndexRequest: the header only.
type readIndexRequest struct{ header }

func (m readIndexRequest) encode() []byte { return appendHeader(nil, m.header) }

func decodeReadIndexRequest(b []byte) (readIndexRequest, error) {
	r := wireReader{b: b}
	m := readIndexRequest{header: r.header()}
	return m, r.done()
}

// readIndexResponse: the index (u64) a linearizable read must wait for.
type readIndexResponse struct{ index uint64 }

func (m readIndexResponse) encode() []byte { return binary.BigEndian.AppendUint64(nil, m.index) }

func decodeReadIndexResponse(b []byte) (readIndexResponse, error) {
	r := wireReader{b: b}
	m := readIndexResponse{index: r.u64("index")}
	return m, r.done()
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
	r := wireReader{b: b}
	var m queryRequest
	m.header = r.header()
	m.level = ReadLevel(r.u8("level"))
	if r.err == nil && !m.level.valid() {
		r.fail("unknown read level %d", m.level)
	}
	m.query = r.rest(maxSize, "query")
	return m, r.done()
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
	b := appendHeader(make([]byte, 0, headerSize+3+len(m.id)+len(m.addr)), m.header)
	b = append(b, uint8(m.op))
	b = appendStr(b, m.id)
	return appendStr(b, m.addr)
}

func decodeChangeRequest(b []byte) (changeRequest, error) {
	r := wireReader{b: b}
	var m changeRequest
	m.header = r.header()
	m.op = changeOp(r.u8("op"))
	if r.err == nil && !m.op.valid() {
		r.fail("unknown membership op %d", m.op)
	}
	m.id = r.str("id")
	m.addr = r.str("addr")
	if r.err == nil && m.id == "" && m.op != opTransfer {
		r.fail("%v without a server ID", m.op)
	}
	return m, r.done()
}

// statusRequest: the header only.
type statusRequest struct{ header }

func (m statusRequest) encode() []byte { return appendHeader(nil, m.header) }

func decodeStatusRequest(b []byte) (statusRequest, error) {
	r := wireReader{b: b}
	m := statusRequest{header: r.header()}
	return m, r.done()
}

// Status response layout: state (u8), flags (u8, bit 0: has state), term,
// commit, applied, last log, configuration, last snapshot indexes and
// snapshot failures (u64 each), last contact age in nanoseconds (u64,
// all ones: never), then the strings ID, address, leader ID, leader address.
const (
	statusHasState      uint8 = 1 << 0
	statusKnownFlags          = statusHasState
	statusNeverContact        = math.MaxUint64
	statusMaxStringSize       = math.MaxUint8
)

func encodeStatus(s Status) []byte {
	b := make([]byte, 0, 2+8*7+4+len(s.Name)+len(s.Addr)+len(s.Leader.Name)+len(s.Leader.Addr))
	var flags uint8
	if s.HasState {
		flags |= statusHasState
	}
	b = append(b, uint8(s.State), flags)
	for _, v := range []uint64{s.Term, s.CommitIndex, s.AppliedIndex, s.LastLogIndex,
		s.ConfigurationIndex, s.LastSnapshotIndex, s.SnapshotFailures} {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	age := uint64(statusNeverContact)
	if s.LastContact >= 0 {
		age = uint64(s.LastContact)
	}
	b = binary.BigEndian.AppendUint64(b, age)
	for _, str := range []string{s.Name, s.Addr, s.Leader.Name, s.Leader.Addr} {
		b = appendStr(b, str)
	}
	return b
}

func decodeStatus(b []byte) (Status, error) {
	r := wireReader{b: b}
	var s Status
	s.State = State(r.u8("state"))
	if r.err == nil && !s.State.valid() {
		r.fail("unknown state %d", s.State)
	}
	flags := r.u8("flags")
	if flags&^statusKnownFlags != 0 {
		r.fail("unknown status flags %#x", flags)
	}
	s.HasState = flags&statusHasState != 0
	for _, p := range []*uint64{&s.Term, &s.CommitIndex, &s.AppliedIndex, &s.LastLogIndex,
		&s.ConfigurationIndex, &s.LastSnapshotIndex, &s.SnapshotFailures} {
		*p = r.u64("status field")
	}
	age := r.u64("last contact")
	switch {
	case age == statusNeverContact:
		s.LastContact = -1
	case age > math.MaxInt64:
		r.fail("last contact %d out of range", age)
	default:
		s.LastContact = time.Duration(age)
	}
	s.Name = r.str("id")
	s.Addr = r.str("addr")
	s.Leader.Name = r.str("leader id")
	s.Leader.Addr = r.str("leader addr")
	s.Leader.Term = s.Term
	if s.Leader.Name == "" {
		s.Leader.Term = 0
	}
	return s, r.done()
}
