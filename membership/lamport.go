package membership

import "sync/atomic"

// lamportClock orders user events and queries across the cluster: each
// node ticks it to send and witnesses the times it receives.
type lamportClock struct{ t atomic.Uint64 }

// time returns the current time.
func (c *lamportClock) time() uint64 { return c.t.Load() }

// tick advances the clock and returns the new time.
func (c *lamportClock) tick() uint64 { return c.t.Add(1) }

// witness moves the clock past v if it is behind.
func (c *lamportClock) witness(v uint64) {
	for {
		cur := c.t.Load()
		if v < cur || c.t.CompareAndSwap(cur, v+1) {
			return
		}
	}
}

// seenBuffer remembers recent messages by Lamport time, to deliver each
// once. It keeps the last len(slots) times; a message older than that is
// reported as too old. Not safe for concurrent use.
type seenBuffer struct {
	slots []seenSlot
}

type seenSlot struct {
	ltime uint64
	keys  []string
	raws  [][]byte // the messages, when kept (user events)
}

func newSeenBuffer(size int) *seenBuffer {
	return &seenBuffer{slots: make([]seenSlot, size)}
}

// add records key at ltime, given the clock's current time, and reports
// whether it is new. A message older than the buffer covers is not new:
// it cannot be told from one already delivered. raw, if not nil, is kept
// for recent.
func (b *seenBuffer) add(ltime, clock uint64, key string, raw []byte) bool {
	n := uint64(len(b.slots))
	if clock > n && ltime < clock-n {
		return false
	}
	s := &b.slots[ltime%n]
	if s.ltime != ltime {
		s.ltime, s.keys, s.raws = ltime, s.keys[:0], nil
	}
	for _, k := range s.keys {
		if k == key {
			return false
		}
	}
	if len(s.keys) >= maxPerSlot {
		return false
	}
	s.keys = append(s.keys, key)
	if raw != nil {
		s.raws = append(s.raws, raw)
	}
	return true
}

// recent returns the kept messages of the times the buffer still covers,
// oldest first, at most limit bytes of them.
func (b *seenBuffer) recent(clock uint64, limit int) [][]byte {
	n := uint64(len(b.slots))
	from := uint64(0)
	if clock > n {
		from = clock - n
	}
	var out [][]byte
	size := 0
	for t := from; t <= clock; t++ {
		s := &b.slots[t%n]
		if s.ltime != t {
			continue
		}
		for _, r := range s.raws {
			if size += len(r); size > limit {
				return out
			}
			out = append(out, r)
		}
	}
	return out
}

// maxPerSlot bounds the messages remembered for one Lamport time, so a
// flood of distinct messages cannot grow the buffer without limit.
const maxPerSlot = 256
