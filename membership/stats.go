package membership

import "sync/atomic"

// Stats are counters a Membership keeps from New on, for an exporter such as
// cluster/metrics. Members by status come from [Membership.Members].
type Stats struct {
	// Events counts the events the member table produced, by type.
	Events map[EventType]uint64
	// Subscriptions is the number of open subscriptions; EventsDropped the
	// events discarded because a subscription's queue was full, summed over
	// every subscription the node ever had.
	Subscriptions int
	EventsDropped uint64
	// RejoinAttempts counts the times the node joined its seeds again
	// because it was alone or missed a member; ReconnectAttempts the times
	// it tried to reach a failed member.
	RejoinAttempts    uint64
	ReconnectAttempts uint64
	// MetadataSize is the size in bytes of the metadata this node gossips
	// (role, addresses and tags); the limit is MetaMaxSize.
	MetadataSize int
	// Streams is the number of gossip streams from other nodes open now,
	// MaxStreams and MaxStreamsPerIP the limits in force (Tuning), and
	// StreamsRefused the streams closed at once by those limits.
	Streams                     int
	MaxStreams, MaxStreamsPerIP int
	StreamsRefused              uint64
}

// counters holds what Stats reads.
type counters struct {
	events    [EventReap + 1]atomic.Uint64
	rejoins   atomic.Uint64
	reconnect atomic.Uint64
}

func (c *counters) countEvents(evs []Event) {
	for _, ev := range evs {
		if int(ev.Type) < len(c.events) {
			c.events[ev.Type].Add(1)
		}
	}
}

// Stats returns the node's counters. It may be called at any time.
func (m *Membership) Stats() Stats {
	s := Stats{
		Events:            make(map[EventType]uint64, int(EventReap)),
		RejoinAttempts:    m.hub.counts.rejoins.Load(),
		ReconnectAttempts: m.hub.counts.reconnect.Load(),
		MetadataSize:      len(m.meta.bytes()),
	}
	for t := EventJoin; t <= EventReap; t++ {
		s.Events[t] = m.hub.counts.events[t].Load()
	}
	s.Subscriptions, s.EventsDropped = m.hub.subs.Stats()
	s.MaxStreams, s.MaxStreamsPerIP = m.cfg.Tuning.streamLimits()
	m.mu.Lock()
	tr := m.tr
	m.mu.Unlock()
	if tr != nil {
		s.Streams, s.StreamsRefused = tr.streamCounts()
	}
	return s
}
