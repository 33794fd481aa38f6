package membership

import "github.com/hashicorp/memberlist"

// delegate gives memberlist the local node's metadata. Conclave sends no
// user messages or extra push-pull state through memberlist.
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

// NotifyMsg implements memberlist.Delegate; Conclave sends no user messages.
func (d *delegate) NotifyMsg([]byte) {}

// GetBroadcasts implements memberlist.Delegate; Conclave has none.
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }

// LocalState implements memberlist.Delegate; Conclave adds no state.
func (d *delegate) LocalState(join bool) []byte { return nil }

// MergeRemoteState implements memberlist.Delegate; Conclave adds no state.
func (d *delegate) MergeRemoteState(buf []byte, join bool) {}
