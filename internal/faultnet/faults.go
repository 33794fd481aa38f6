package faultnet

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Partition splits the network into groups: traffic flows only between hosts
// of the same group. A host listed in no group is isolated from every other
// host (including hosts created later), so list every host you want to keep
// connected. Partition replaces any earlier partition; cuts and isolations
// stay in force. It returns an error, and changes nothing, when no group is
// given, a name is empty or a name appears twice.
func (n *Network) Partition(groups ...[]string) error {
	if len(groups) == 0 {
		return errors.New("faultnet: Partition needs at least one group (use Heal to remove a partition)")
	}
	index := make(map[string]int)
	for g, names := range groups {
		for _, name := range names {
			if name == "" {
				return errors.New("faultnet: Partition: empty host name")
			}
			if _, dup := index[name]; dup {
				return fmt.Errorf("faultnet: Partition: host %q is in two groups", name)
			}
			index[name] = g
		}
	}
	n.change(func(f *faults) { f.groups = index }, "partition", "groups", groups)
	return nil
}

// Isolate cuts every link to and from name, like a pulled cable. It returns
// an error for the empty name.
func (n *Network) Isolate(name string) error {
	if name == "" {
		return errors.New("faultnet: Isolate: empty host name")
	}
	n.change(func(f *faults) { f.isolated[name] = true }, "isolate", "host", name)
	return nil
}

// Cut drops traffic from -> to, in that direction only: datagrams from to
// to from still arrive. A stream dial needs both directions (a handshake),
// so it fails across a link cut either way. It returns an error for an empty
// name or from == to.
func (n *Network) Cut(from, to string) error {
	if err := checkLink("Cut", from, to); err != nil {
		return err
	}
	n.change(func(f *faults) { f.cuts[Link{from, to}] = true }, "cut", "from", from, "to", to)
	return nil
}

// Heal removes every partition, isolation and cut. Loss, delay and pauses
// stay in force.
func (n *Network) Heal() {
	n.change(func(f *faults) {
		f.groups = nil
		clear(f.isolated)
		clear(f.cuts)
	}, "heal")
}

// SetLoss sets the probability p, in [0, 1], that a datagram on any link is
// lost (links with their own [Network.SetLinkLoss] keep theirs). Streams
// never lose bytes: a "lost" stream write arrives [Config.RetransmitTimeout]
// late instead.
func (n *Network) SetLoss(p float64) error {
	if err := checkProbability("SetLoss", p); err != nil {
		return err
	}
	n.change(func(f *faults) { f.loss = p }, "set loss", "p", p)
	return nil
}

// SetLinkLoss sets the loss probability of the link from -> to only,
// overriding [Network.SetLoss] until [Network.ClearLinkFaults].
func (n *Network) SetLinkLoss(from, to string, p float64) error {
	if err := checkLink("SetLinkLoss", from, to); err != nil {
		return err
	}
	if err := checkProbability("SetLinkLoss", p); err != nil {
		return err
	}
	n.change(func(f *faults) { f.linkLoss[Link{from, to}] = p }, "set link loss", "from", from, "to", to, "p", p)
	return nil
}

// SetDelay delays every message on every link (links with their own
// [Network.SetLinkDelay] keep theirs) by d plus a uniform random extra in
// [0, jitter). Datagrams with jitter may be reordered; stream bytes keep
// their order. Both durations must be >= 0.
func (n *Network) SetDelay(d, jitter time.Duration) error {
	if err := checkDelay("SetDelay", d, jitter); err != nil {
		return err
	}
	n.change(func(f *faults) { f.delay = delaySpec{d, jitter} }, "set delay", "delay", d, "jitter", jitter)
	return nil
}

// SetLinkDelay sets the delay of the link from -> to only, overriding
// [Network.SetDelay] until [Network.ClearLinkFaults].
func (n *Network) SetLinkDelay(from, to string, d, jitter time.Duration) error {
	if err := checkLink("SetLinkDelay", from, to); err != nil {
		return err
	}
	if err := checkDelay("SetLinkDelay", d, jitter); err != nil {
		return err
	}
	n.change(func(f *faults) { f.linkDelay[Link{from, to}] = delaySpec{d, jitter} },
		"set link delay", "from", from, "to", to, "delay", d, "jitter", jitter)
	return nil
}

// ClearLinkFaults removes every per-link loss and delay, so the global ones
// apply to every link again.
func (n *Network) ClearLinkFaults() {
	n.change(func(f *faults) {
		clear(f.linkLoss)
		clear(f.linkDelay)
	}, "clear link faults")
}

// Pause freezes name, like a stopped process or a long GC pause: traffic to
// and from it is held, not dropped, and delivered in order by
// [Network.Resume]. Dials to a paused host still connect (its kernel
// answers), but no bytes flow. It returns an error for the empty name.
func (n *Network) Pause(name string) error {
	if name == "" {
		return errors.New("faultnet: Pause: empty host name")
	}
	n.change(func(f *faults) { f.paused[name] = true }, "pause", "host", name)
	return nil
}

// Resume ends a [Network.Pause]: the held traffic is delivered, in the order
// it was held, unless the other end is still paused. Resuming a host that is
// not paused does nothing. It returns an error for the empty name.
func (n *Network) Resume(name string) error {
	if name == "" {
		return errors.New("faultnet: Resume: empty host name")
	}
	n.change(func(f *faults) { delete(f.paused, name) }, "resume", "host", name)
	return nil
}

// change applies mutate to the faults, wakes everything waiting for a fault
// change and logs msg with args.
func (n *Network) change(mutate func(*faults), msg string, args ...any) {
	n.mu.Lock()
	mutate(&n.faults)
	n.bumpLocked()
	n.mu.Unlock()
	n.logger.Info(msg, args...)
}

func checkLink(op, from, to string) error {
	if from == "" || to == "" {
		return fmt.Errorf("faultnet: %s: empty host name", op)
	}
	if from == to {
		return fmt.Errorf("faultnet: %s: from and to are both %q; traffic of a host to itself is never faulted", op, from)
	}
	return nil
}

func checkProbability(op string, p float64) error {
	if math.IsNaN(p) || p < 0 || p > 1 {
		return fmt.Errorf("faultnet: %s: probability %v is not in [0, 1]", op, p)
	}
	return nil
}

func checkDelay(op string, d, jitter time.Duration) error {
	if d < 0 || jitter < 0 {
		return fmt.Errorf("faultnet: %s: delay %v and jitter %v must be >= 0", op, d, jitter)
	}
	return nil
}
