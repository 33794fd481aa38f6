package membership

import (
	"github.com/conclave-go/conclave/internal/wire"
)

// Push-pull state: every full state exchange (joins, and memberlist's
// periodic push-pull) carries the Lamport clocks and the user events of the
// recent past, so a member that missed an event's gossip gets it at the next
// exchange. A node's first exchange sets the time before which events are
// history: they are remembered as seen but not delivered.

// pushPullVersion is the first byte of the push-pull state.
const pushPullVersion = 1

// maxPushPullEvents bounds the bytes of events in one push-pull state.
const maxPushPullEvents = 256 << 10

// maxPushPullCount bounds the number of events in one push-pull state.
const maxPushPullCount = seenSize * maxPerSlot

func (m *Membership) localState() []byte {
	ms := m.msgs
	ms.mu.Lock()
	events := ms.eventSeen.recent(ms.eventClock.time(), maxPushPullEvents)
	ms.mu.Unlock()
	b := []byte{pushPullVersion}
	b = wire.AppendUint64(b, ms.eventClock.time())
	b = wire.AppendUint64(b, ms.queryClock.time())
	b = wire.AppendUvarint(b, uint64(len(events)))
	for _, e := range events {
		b = wire.AppendBytes(b, e)
	}
	return b
}

func (m *Membership) mergeState(buf []byte, join bool) {
	d := wire.NewDecoder(buf, errBadMessage)
	if v := d.Uint8("state version"); d.Err() == nil && v != pushPullVersion {
		d.Failf("state version %d", v)
	}
	eventClock, queryClock := d.Uint64("event clock"), d.Uint64("query clock")
	n := d.Count("events", maxPushPullCount, 2)
	events := make([]eventMsg, 0, n)
	raws := make([][]byte, 0, n)
	for range n {
		raw := d.Bytes("event", MaxMessageSize)
		if d.Err() != nil {
			break
		}
		msg, err := decodeMsg(raw)
		if err != nil || msg.event == nil {
			d.Failf("not a user event")
			break
		}
		events, raws = append(events, *msg.event), append(raws, raw)
	}
	if err := d.Finish(); err != nil {
		m.logger.Debug("dropped malformed push-pull state", "error", err)
		return
	}
	ms := m.msgs
	ms.mu.Lock()
	if join && !ms.joined {
		ms.ignoreUpTo = max(ms.ignoreUpTo, eventClock)
	}
	ms.joined = true
	ms.mu.Unlock()
	ms.eventClock.witness(eventClock)
	ms.queryClock.witness(queryClock)
	for i, e := range events {
		m.handleEvent(e, raws[i])
	}
}
