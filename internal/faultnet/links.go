package faultnet

import "time"

// Link is the directed path from one host to another.
type Link struct {
	From, To string
}

// delaySpec is a base delay plus a uniform random extra in [0, jitter).
type delaySpec struct {
	base, jitter time.Duration
}

// faults is the set of faults in force. It is guarded by Network.mu.
type faults struct {
	groups    map[string]int // partition group of each listed host; nil when there is no partition
	isolated  map[string]bool
	cuts      map[Link]bool
	paused    map[string]bool
	loss      float64
	linkLoss  map[Link]float64
	delay     delaySpec
	linkDelay map[Link]delaySpec
}

func newFaults() faults {
	return faults{
		isolated:  make(map[string]bool),
		cuts:      make(map[Link]bool),
		paused:    make(map[string]bool),
		linkLoss:  make(map[Link]float64),
		linkDelay: make(map[Link]delaySpec),
	}
}

// filtered reports whether traffic from -> to is subject to faults at all:
// traffic of the outside world (the empty name), to unknown addresses and of
// a host to itself never is.
func filtered(from, to string) bool {
	return from != "" && to != "" && from != to
}

// blocked reports whether from -> to is cut by a cut, an isolation or a
// partition.
func (f *faults) blocked(from, to string) bool {
	if !filtered(from, to) {
		return false
	}
	if f.isolated[from] || f.isolated[to] || f.cuts[Link{from, to}] {
		return true
	}
	if f.groups == nil {
		return false
	}
	gf, okf := f.groups[from]
	gt, okt := f.groups[to]
	return !okf || !okt || gf != gt
}

// held reports whether traffic from -> to is held because an end is paused.
func (f *faults) held(from, to string) bool {
	return filtered(from, to) && (f.paused[from] || f.paused[to])
}

// lossFor returns the loss probability of from -> to.
func (f *faults) lossFor(from, to string) float64 {
	if p, ok := f.linkLoss[Link{from, to}]; ok {
		return p
	}
	return f.loss
}

// delayFor returns the delay of from -> to.
func (f *faults) delayFor(from, to string) delaySpec {
	if d, ok := f.linkDelay[Link{from, to}]; ok {
		return d
	}
	return f.delay
}

// lostLocked draws whether one message on from -> to is lost. It consumes a
// random number only when the link is lossy. n.mu is held.
func (n *Network) lostLocked(from, to string) bool {
	p := n.faults.lossFor(from, to)
	return p > 0 && n.rng.Float64() < p
}

// delayLocked draws the delay of one message on from -> to. It consumes a
// random number only when the link has jitter. n.mu is held.
func (n *Network) delayLocked(from, to string) time.Duration {
	d := n.faults.delayFor(from, to)
	if d.jitter > 0 {
		return d.base + time.Duration(n.rng.Int64N(int64(d.jitter)))
	}
	return d.base
}

// linkOpen reports whether bytes may cross from -> to now (neither blocked
// nor held), and returns a channel closed at the next fault change.
func (n *Network) linkOpen(from, to string) (bool, <-chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	open := !n.faults.blocked(from, to) && !n.faults.held(from, to)
	return open, n.watch
}

// linkHeld reports whether from -> to is held by a pause.
func (n *Network) linkHeld(from, to string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.faults.held(from, to)
}
