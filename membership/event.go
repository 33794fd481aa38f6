package membership

import "strconv"

// EventType says what happened to a member.
type EventType uint8

const (
	// EventJoin: a member became alive (new, or back after failing or
	// leaving).
	EventJoin EventType = iota + 1
	// EventUpdate: an alive member changed its metadata (tags, role, RPC
	// address).
	EventUpdate
	// EventLeave: a member left gracefully.
	EventLeave
	// EventFailed: failure detection declared a member unreachable.
	EventFailed
	// EventReap: a failed or left member was forgotten after its timeout.
	EventReap
)

// String returns "join", "update", "leave", "failed", "reap" or "event(N)".
func (t EventType) String() string {
	switch t {
	case EventJoin:
		return "join"
	case EventUpdate:
		return "update"
	case EventLeave:
		return "leave"
	case EventFailed:
		return "failed"
	case EventReap:
		return "reap"
	default:
		return "event(" + strconv.Itoa(int(t)) + ")"
	}
}

// Event is one change to the member list. Member is the member's state
// right after the change (for EventReap, its last state).
type Event struct {
	Type   EventType
	Member Member
}

// String returns e.g. "join node-1".
func (e Event) String() string { return e.Type.String() + " " + e.Member.Name }
