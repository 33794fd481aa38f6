package membership

import (
	"slices"

	"github.com/hashicorp/memberlist"
)

// delegate gives memberlist the local node's metadata and carries user
// events, queries and their responses as memberlist user messages, and
// the recent user events in push-pull state.
type delegate struct{ m *Membership }

var _ memberlist.Delegate = (*delegate)(nil)

// NodeMeta returns the encoded metadata. Its size was checked when it was
// set, so it always fits the limit; if it somehow did not, sending nothing
// is better than memberlist's panic.
func (d *delegate) NodeMeta(limit int) []byte {
	b := d.m.meta.bytes()
	if len(b) > limit {
		d.m.logger.Error("metadata over the limit, advertising none", "size", len(b), "limit", limit)
		return nil
	}
	return b
}

// NotifyMsg implements memberlist.Delegate. memberlist reuses b after the
// call, so whatever is kept is copied; a malformed message is dropped.
func (d *delegate) NotifyMsg(b []byte) {
	b = slices.Clone(b)
	msg, err := decodeMsg(b)
	if err != nil {
		d.m.logger.Debug("dropped a malformed message", "error", err)
		return
	}
	switch {
	case msg.event != nil:
		d.m.handleEvent(*msg.event, b)
	case msg.query != nil:
		d.m.handleQuery(*msg.query, b, msg.retry)
	case msg.response != nil:
		d.m.handleResponse(*msg.response)
	case msg.relay != nil:
		d.m.handleRelay(*msg.relay)
	case msg.leave != nil:
		d.m.handleForceLeave(*msg.leave, b)
	}
}

// GetBroadcasts implements memberlist.Delegate: the user events and
// queries waiting to be gossiped.
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.m.msgs.broadcasts.GetBroadcasts(overhead, limit)
}

// LocalState implements memberlist.Delegate: the Lamport clocks and the
// recent user events.
func (d *delegate) LocalState(join bool) []byte { return d.m.localState() }

// MergeRemoteState implements memberlist.Delegate.
func (d *delegate) MergeRemoteState(buf []byte, join bool) {
	d.m.mergeState(slices.Clone(buf), join)
}
