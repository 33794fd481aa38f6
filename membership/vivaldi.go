package membership

import (
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// Vivaldi network coordinates (Dabek, Cox, Kaashoek, Morris: "Vivaldi: a
// decentralized network coordinate system", SIGCOMM 2004), in the
// height-vector model: a point in a Euclidean space plus a height for the
// access link, so the estimated round trip between two nodes is the
// distance between their points plus both heights. Each measured round trip
// pulls the local coordinate towards (or pushes it away from) the other
// node's, weighted by how confident each side is. Pure code: the caller
// serialises access.

// CoordinateDims is the dimension of the Euclidean part of a coordinate.
const CoordinateDims = 8

const (
	vivaldiCE         = 0.25  // error-estimate gain
	vivaldiCC         = 0.25  // movement gain
	vivaldiMaxError   = 1.5   // initial and largest error estimate
	vivaldiMinHeight  = 10e-6 // seconds
	vivaldiMaxRTT     = 10.0  // seconds; longer samples are ignored
	vivaldiFilterSize = 3     // samples per peer in the median filter
	vivaldiMaxPeers   = 4096  // peers remembered by the median filter
)

// Coordinate is a Vivaldi network coordinate. Units are seconds.
type Coordinate struct {
	// Vec is the position in the Euclidean space.
	Vec [CoordinateDims]float64
	// Height models the node's access link.
	Height float64
	// Error is the node's confidence in its coordinate: 1.5 at first, lower
	// is better.
	Error float64
}

func newCoordinate() Coordinate {
	return Coordinate{Height: vivaldiMinHeight, Error: vivaldiMaxError}
}

// valid reports whether every component is finite, the height is at least
// the minimum and the error is within range.
func (c Coordinate) valid() bool {
	for _, v := range c.Vec {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return c.Height >= vivaldiMinHeight && !math.IsInf(c.Height, 0) &&
		c.Error > 0 && c.Error <= vivaldiMaxError
}

// DistanceTo estimates the round trip from c to o.
func (c Coordinate) DistanceTo(o Coordinate) time.Duration {
	return time.Duration(c.rawDistance(o) * float64(time.Second))
}

func (c Coordinate) rawDistance(o Coordinate) float64 {
	return euclid(c.Vec, o.Vec) + c.Height + o.Height
}

func euclid(a, b [CoordinateDims]float64) float64 {
	var sum float64
	for i := range a {
		d := a[i] - b[i]
		sum += d * d
	}
	return math.Sqrt(sum)
}

// vivaldi is the local node's coordinate and its median filter of recent
// samples per peer.
type vivaldi struct {
	c       Coordinate
	samples map[string][]float64
	rng     *rand.Rand
}

func newVivaldi(seed uint64) *vivaldi {
	return &vivaldi{c: newCoordinate(), samples: map[string][]float64{}, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// update folds in a round trip to peer, whose coordinate is other. Samples
// out of range are ignored.
func (v *vivaldi) update(peer string, other Coordinate, rtt time.Duration) {
	s := rtt.Seconds()
	if s <= 0 || s > vivaldiMaxRTT || !other.valid() {
		return
	}
	s = v.filter(peer, s)
	dist := v.c.rawDistance(other)
	w := v.c.Error / (v.c.Error + other.Error)
	rel := math.Abs(dist-s) / s
	v.c.Error = min(rel*vivaldiCE*w+v.c.Error*(1-vivaldiCE*w), vivaldiMaxError)
	force := vivaldiCC * w * (s - dist)
	v.move(other, force)
}

// move pushes the coordinate away from other by force seconds (towards it
// when negative) along the unit vector of the height-vector model: the
// Euclidean difference and the sum of the heights, over the distance.
// Coincident points move apart in a random direction.
func (v *vivaldi) move(other Coordinate, force float64) {
	if euclid(v.c.Vec, other.Vec) < 1e-9 {
		dir := v.randomUnit()
		for i := range dir {
			v.c.Vec[i] += dir[i] * force
		}
		return
	}
	d := v.c.rawDistance(other)
	for i := range v.c.Vec {
		v.c.Vec[i] += force * (v.c.Vec[i] - other.Vec[i]) / d
	}
	v.c.Height = max(v.c.Height+force*(v.c.Height+other.Height)/d, vivaldiMinHeight)
}

func (v *vivaldi) randomUnit() [CoordinateDims]float64 {
	var dir [CoordinateDims]float64
	var n float64
	for n < 1e-6 {
		n = 0
		for i := range dir {
			dir[i] = v.rng.Float64() - 0.5
			n += dir[i] * dir[i]
		}
	}
	n = math.Sqrt(n)
	for i := range dir {
		dir[i] /= n
	}
	return dir
}

// filter records a sample for peer and returns the median of its last few.
func (v *vivaldi) filter(peer string, s float64) float64 {
	buf, ok := v.samples[peer]
	if !ok && len(v.samples) >= vivaldiMaxPeers {
		clear(v.samples)
	}
	buf = append(buf, s)
	if len(buf) > vivaldiFilterSize {
		buf = buf[1:]
	}
	v.samples[peer] = buf
	sorted := slices.Clone(buf)
	slices.Sort(sorted)
	return sorted[len(sorted)/2]
}

func (v *vivaldi) forget(peer string) { delete(v.samples, peer) }
