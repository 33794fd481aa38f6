package bench

import (
	"sync"

	"github.com/conclave-go/conclave/cluster"
)

// view is what every node of a scale cluster lists, fed by the nodes'
// event subscriptions, so that a condition over N×N statuses is checked
// without copying N member lists.
type view struct {
	mu     sync.Mutex
	status [][]uint8 // [observer][member]: one of the statuses below
	failed []uint64  // failure events seen for each member, by any observer
}

const (
	viewUnknown uint8 = iota
	viewAlive
	viewFailed
	viewLeft
)

func newView(n int) *view {
	v := &view{status: make([][]uint8, n), failed: make([]uint64, n)}
	for i := range v.status {
		v.status[i] = make([]uint8, n)
	}
	return v
}

// record applies one event seen by observer. Events for members that are
// not nodes of the cluster are ignored.
func (v *view) record(observer int, ev cluster.Event) {
	member, ok := nodeIndex(ev.Member.Name, len(v.status))
	if !ok {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	switch ev.Type {
	case cluster.EventMemberJoin, cluster.EventMemberUpdate:
		v.status[observer][member] = viewAlive
	case cluster.EventMemberFailed:
		v.status[observer][member] = viewFailed
		v.failed[member]++
	case cluster.EventMemberLeave:
		v.status[observer][member] = viewLeft
	case cluster.EventMemberReap:
		v.status[observer][member] = viewUnknown
	}
}

// allAlive reports whether every live node lists every live node alive.
func (v *view) allAlive(live []bool) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	for o, row := range v.status {
		if !live[o] {
			continue
		}
		for m, st := range row {
			if live[m] && st != viewAlive {
				return false
			}
		}
	}
	return true
}

// seenFailed reports whether every live node in observers lists every
// member in members as failed.
func (v *view) seenFailed(observers, members []int, live []bool) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, o := range observers {
		if !live[o] {
			continue
		}
		for _, m := range members {
			if m != o && v.status[o][m] != viewFailed {
				return false
			}
		}
	}
	return true
}

// failures returns the failure events seen so far for each member.
func (v *view) failures() []uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]uint64(nil), v.failed...)
}

// nodeIndex parses a name made by nodeName, below n.
func nodeIndex(name string, n int) (int, bool) {
	const prefix = "node-"
	if len(name) <= len(prefix) || name[:len(prefix)] != prefix {
		return 0, false
	}
	i := 0
	for _, c := range name[len(prefix):] {
		if c < '0' || c > '9' {
			return 0, false
		}
		i = i*10 + int(c-'0')
		if i >= n {
			return 0, false
		}
	}
	return i, true
}

// missing returns how many (observer, member) pairs of live nodes are not
// listed alive, and one of them.
func (v *view) missing(live []bool) (count, observer, member int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for o, row := range v.status {
		for m, st := range row {
			if live[o] && live[m] && st != viewAlive {
				if count == 0 {
					observer, member = o, m
				}
				count++
			}
		}
	}
	return count, observer, member
}
