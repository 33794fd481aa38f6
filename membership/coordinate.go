package membership

import (
	"math"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/conclave-go/conclave/internal/wire"
)

// Every probe ack carries the responder's coordinate, and the prober feeds
// the measured round trip into its own (vivaldi.go). Coordinates of other
// members are cached as they arrive, so any two members' round trip can be
// estimated locally.

// coords holds the local Vivaldi state and the latest coordinate of each
// member heard from.
type coords struct {
	mu    sync.Mutex // guards viv and cache
	viv   *vivaldi
	cache map[string]Coordinate
}

func newCoords(seed uint64) *coords {
	return &coords{viv: newVivaldi(seed), cache: map[string]Coordinate{}}
}

// coordinateSize is the encoded size of a coordinate.
const coordinateSize = 8 * (CoordinateDims + 2)

// encodeCoordinate writes c's fields as big-endian float64 bits.
func encodeCoordinate(c Coordinate) []byte {
	b := make([]byte, 0, coordinateSize)
	for _, v := range c.Vec {
		b = wire.AppendUint64(b, math.Float64bits(v))
	}
	b = wire.AppendUint64(b, math.Float64bits(c.Height))
	return wire.AppendUint64(b, math.Float64bits(c.Error))
}

// decodeCoordinate reads a coordinate; it must be valid (finite, height
// and error in range) and have no trailing bytes.
func decodeCoordinate(b []byte) (Coordinate, error) {
	d := wire.NewDecoder(b, errBadMessage)
	var c Coordinate
	for i := range c.Vec {
		c.Vec[i] = math.Float64frombits(d.Uint64("coordinate"))
	}
	c.Height = math.Float64frombits(d.Uint64("height"))
	c.Error = math.Float64frombits(d.Uint64("error"))
	if d.Err() == nil && !c.valid() {
		d.Failf("coordinate out of range")
	}
	return c, d.Finish()
}

// pingDelegate carries coordinates on memberlist's probe acks.
type pingDelegate struct{ m *Membership }

var _ memberlist.PingDelegate = (*pingDelegate)(nil)

// AckPayload implements memberlist.PingDelegate: the local coordinate.
func (p *pingDelegate) AckPayload() []byte { return encodeCoordinate(p.m.Coordinate()) }

// NotifyPingComplete implements memberlist.PingDelegate: the round trip to
// other and its coordinate update the local one.
func (p *pingDelegate) NotifyPingComplete(other *memberlist.Node, rtt time.Duration, payload []byte) {
	if len(payload) == 0 {
		return
	}
	c, err := decodeCoordinate(payload)
	if err != nil {
		p.m.logger.Debug("dropped a malformed coordinate", "member", other.Name, "error", err)
		return
	}
	cs := p.m.coords
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.viv.update(other.Name, c, rtt)
	cs.cache[other.Name] = c
}

// forget drops a reaped member's coordinate and samples.
func (c *coords) forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.cache, name)
	c.viv.forget(name)
}

// Coordinate returns the local node's network coordinate. It starts at the
// origin and moves as probes measure round trips.
func (m *Membership) Coordinate() Coordinate {
	m.coords.mu.Lock()
	defer m.coords.mu.Unlock()
	return m.coords.viv.c
}

// MemberCoordinate returns the latest coordinate heard from the named member
// (the local node's own for its name), and false if none was heard yet.
func (m *Membership) MemberCoordinate(name string) (Coordinate, bool) {
	if name == m.cfg.Name {
		return m.Coordinate(), true
	}
	m.coords.mu.Lock()
	defer m.coords.mu.Unlock()
	c, ok := m.coords.cache[name]
	return c, ok
}

// RTT estimates the round-trip time between members a and b from their
// coordinates; false when either coordinate is unknown.
func (m *Membership) RTT(a, b string) (time.Duration, bool) {
	ca, ok := m.MemberCoordinate(a)
	if !ok {
		return 0, false
	}
	cb, ok := m.MemberCoordinate(b)
	if !ok {
		return 0, false
	}
	return ca.DistanceTo(cb), true
}

// SortByDistance sorts members by their estimated round trip from the
// local node, nearest first; members without a known coordinate go last.
// Ties keep their order.
func (m *Membership) SortByDistance(members []Member) {
	local := m.Coordinate()
	dist := make(map[string]float64, len(members))
	for _, mem := range members {
		dist[mem.Name] = math.Inf(1)
		if c, ok := m.MemberCoordinate(mem.Name); ok {
			dist[mem.Name] = local.rawDistance(c)
		}
	}
	slices.SortStableFunc(members, func(x, y Member) int {
		dx, dy := dist[x.Name], dist[y.Name]
		switch {
		case dx < dy:
			return -1
		case dx > dy:
			return 1
		}
		return 0
	})
}
