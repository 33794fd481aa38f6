package membership

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/conclave-go/conclave/internal/wire"
)

// Conclave's own messages ride on memberlist's user messages: gossiped
// (user events, queries) or sent to one member (query acks and responses,
// relays). Each starts with a kind byte; the fields use internal/wire.

// MaxMessageSize bounds the encoded size of a user event, a query and a
// query response (name, payload and a few bytes of header). A message must
// fit one gossip packet with room for memberlist's framing and encryption;
// a larger one is refused with ErrTooLarge, never truncated.
const MaxMessageSize = 1024

// maxMsgName bounds event and query names.
const maxMsgName = 128

// maxFilters bounds the node names and tag expressions of a query.
const maxFilters = 64

// maxQueryTimeout bounds the timeout a query may carry.
const maxQueryTimeout = time.Hour

// maxRelayFactor bounds a query's relay factor.
const maxRelayFactor = 5

// errBadMessage is the sentinel of every decoding error of a user message.
var errBadMessage = errors.New("membership: malformed message")

type msgKind uint8

const (
	msgUserEvent msgKind = iota + 1
	msgQuery
	msgQueryResponse
	msgRelay
	// msgQueryRetry is a query sent again, directly, to a member that has
	// not answered: one that already did answers again.
	msgQueryRetry
	msgForceLeave
)

// forceLeaveMsg moves a failed member to left everywhere (and with Prune,
// forgets it).
type forceLeaveMsg struct {
	LTime uint64
	Name  string
	Prune bool
}

func (f forceLeaveMsg) encode() []byte {
	b := []byte{byte(msgForceLeave)}
	b = wire.AppendUint64(b, f.LTime)
	b = wire.AppendString(b, f.Name)
	if f.Prune {
		return append(b, 1)
	}
	return append(b, 0)
}

func decodeForceLeave(d *wire.Decoder) forceLeaveMsg {
	f := forceLeaveMsg{LTime: d.Uint64("force-leave ltime"), Name: msgName(d, "force-leave member")}
	switch d.Uint8("prune") {
	case 0:
	case 1:
		f.Prune = true
	default:
		d.Failf("prune flag")
	}
	return f
}

// eventMsg is a user event.
type eventMsg struct {
	LTime   uint64
	Name    string
	Payload []byte
}

func (e eventMsg) encode() []byte {
	b := []byte{byte(msgUserEvent)}
	b = wire.AppendUint64(b, e.LTime)
	b = wire.AppendString(b, e.Name)
	return wire.AppendBytes(b, e.Payload)
}

func decodeEvent(d *wire.Decoder) eventMsg {
	e := eventMsg{LTime: d.Uint64("event ltime")}
	e.Name = msgName(d, "event name")
	e.Payload = d.Bytes("event payload", MaxMessageSize)
	return e
}

// queryMsg is a query.
type queryMsg struct {
	LTime       uint64
	ID          uint64
	Origin      string
	Timeout     time.Duration
	RelayFactor uint8
	FilterNodes []string
	FilterTags  []tagFilter
	Name        string
	Payload     []byte
}

// tagFilter is one tag expression of a query: the tag Key must exist and
// match Expr, a regular expression anchored at both ends.
type tagFilter struct{ Key, Expr string }

func (q queryMsg) encode() []byte {
	b := []byte{byte(msgQuery)}
	b = wire.AppendUint64(b, q.LTime)
	b = wire.AppendUint64(b, q.ID)
	b = wire.AppendString(b, q.Origin)
	b = wire.AppendUint64(b, uint64(q.Timeout))
	b = append(b, q.RelayFactor)
	b = wire.AppendUvarint(b, uint64(len(q.FilterNodes)))
	for _, n := range q.FilterNodes {
		b = wire.AppendString(b, n)
	}
	b = wire.AppendUvarint(b, uint64(len(q.FilterTags)))
	for _, f := range q.FilterTags {
		b = wire.AppendString(b, f.Key)
		b = wire.AppendString(b, f.Expr)
	}
	b = wire.AppendString(b, q.Name)
	return wire.AppendBytes(b, q.Payload)
}

func decodeQuery(d *wire.Decoder) queryMsg {
	q := queryMsg{LTime: d.Uint64("query ltime"), ID: d.Uint64("query id")}
	q.Origin = msgName(d, "query origin")
	q.Timeout = time.Duration(d.Uint64("query timeout"))
	if d.Err() == nil && (q.Timeout <= 0 || q.Timeout > maxQueryTimeout) {
		d.Failf("query timeout %v out of range", q.Timeout)
	}
	q.RelayFactor = d.Uint8("relay factor")
	if q.RelayFactor > maxRelayFactor {
		d.Failf("relay factor %d over %d", q.RelayFactor, maxRelayFactor)
	}
	n := d.Count("node filters", maxFilters, 1)
	for range n {
		q.FilterNodes = append(q.FilterNodes, msgName(d, "node filter"))
	}
	n = d.Count("tag filters", maxFilters, 2)
	for range n {
		q.FilterTags = append(q.FilterTags, tagFilter{Key: d.String("tag key", MetaMaxSize), Expr: d.String("tag expression", MaxMessageSize)})
	}
	q.Name = msgName(d, "query name")
	q.Payload = d.Bytes("query payload", MaxMessageSize)
	return q
}

// Response flags.
const (
	respAck       uint8 = 1 << iota // an acknowledgement, no payload
	respError                       // Payload is the handler's error text
	respNoHandler                   // the member has no handler for the name
	respAllFlags  = respAck | respError | respNoHandler
)

// responseMsg answers a query: an ack, or the handler's result.
type responseMsg struct {
	LTime   uint64
	ID      uint64
	From    string
	Flags   uint8
	Payload []byte
}

func (r responseMsg) encode() []byte {
	b := []byte{byte(msgQueryResponse)}
	b = wire.AppendUint64(b, r.LTime)
	b = wire.AppendUint64(b, r.ID)
	b = wire.AppendString(b, r.From)
	b = append(b, r.Flags)
	return wire.AppendBytes(b, r.Payload)
}

func decodeResponse(d *wire.Decoder) responseMsg {
	r := responseMsg{LTime: d.Uint64("response ltime"), ID: d.Uint64("response id")}
	r.From = msgName(d, "responder")
	r.Flags = d.Uint8("response flags")
	if r.Flags&^respAllFlags != 0 {
		d.Failf("unknown response flags %#x", r.Flags)
	}
	r.Payload = d.Bytes("response payload", MaxMessageSize)
	return r
}

// relayMsg asks a member to forward an encoded response to Target.
type relayMsg struct {
	Target string
	Inner  []byte
}

func (r relayMsg) encode() []byte {
	b := []byte{byte(msgRelay)}
	b = wire.AppendString(b, r.Target)
	return wire.AppendBytes(b, r.Inner)
}

func decodeRelay(d *wire.Decoder) relayMsg {
	r := relayMsg{Target: msgName(d, "relay target")}
	r.Inner = d.Bytes("relayed message", MaxMessageSize)
	if d.Err() == nil && (len(r.Inner) == 0 || msgKind(r.Inner[0]) != msgQueryResponse) {
		d.Failf("only query responses are relayed")
	}
	return r
}

// msgName reads a node, event or query name: non-empty UTF-8 of at most
// maxMsgName bytes (node names share the bound).
func msgName(d *wire.Decoder, what string) string {
	s := d.String(what, max(maxMsgName, maxNameLen))
	if d.Err() == nil && (s == "" || !utf8.ValidString(s)) {
		d.Failf("%s must be non-empty UTF-8", what)
	}
	return s
}

// decodedMsg is one decoded user message; exactly one field is set.
type decodedMsg struct {
	event    *eventMsg
	query    *queryMsg
	retry    bool // the query is a msgQueryRetry
	response *responseMsg
	relay    *relayMsg
	leave    *forceLeaveMsg
}

// decodeMsg decodes a user message strictly: known kind, every field
// bounded, no trailing bytes.
func decodeMsg(b []byte) (decodedMsg, error) {
	if len(b) == 0 {
		return decodedMsg{}, fmt.Errorf("%w: empty", errBadMessage)
	}
	if len(b) > MaxMessageSize+2*maxMsgName+16 {
		return decodedMsg{}, fmt.Errorf("%w: %d bytes", errBadMessage, len(b))
	}
	d := wire.NewDecoder(b[1:], errBadMessage)
	var out decodedMsg
	switch msgKind(b[0]) {
	case msgUserEvent:
		e := decodeEvent(&d)
		out.event = &e
	case msgQuery, msgQueryRetry:
		q := decodeQuery(&d)
		out.query, out.retry = &q, msgKind(b[0]) == msgQueryRetry
	case msgQueryResponse:
		r := decodeResponse(&d)
		out.response = &r
	case msgRelay:
		r := decodeRelay(&d)
		out.relay = &r
	case msgForceLeave:
		f := decodeForceLeave(&d)
		out.leave = &f
	default:
		return decodedMsg{}, fmt.Errorf("%w: unknown kind %d", errBadMessage, b[0])
	}
	if err := d.Finish(); err != nil {
		return decodedMsg{}, err
	}
	return out, nil
}
