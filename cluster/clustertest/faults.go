package clustertest

import (
	"context"
	"fmt"
	"time"

	"github.com/conclave-go/conclave/cluster"
)

// Kill crashes node i: every socket it has is closed abruptly (in-flight
// messages are lost), then the node is closed without leaving, as if the
// process had died. Its data dir is kept for [Cluster.Restart].
func (c *Cluster) Kill(i int) error {
	c.rep.Helper()
	return c.check(c.kill(i))
}

func (c *Cluster) kill(i int) error {
	c.rep.Helper()
	s, node, nn, err := c.bringDown(i, "kill")
	if err != nil {
		return err
	}
	defer s.op.Unlock()
	c.recordFault("kill %s", s.name)
	nn.kill()
	if err := c.closeNode(s.name, node); err != nil {
		return fmt.Errorf("kill %s: %w", s.name, err)
	}
	return nil
}

// Restart starts a new instance of node i, which must be down (killed or
// stopped): same name, same data dir, and the same addresses when they can
// be bound again (fresh ones otherwise). Faults set on the node's name
// (partitions, pauses, loss) still apply to it.
func (c *Cluster) Restart(i int) error {
	c.rep.Helper()
	return c.check(c.restart(i))
}

func (c *Cluster) restart(i int) error {
	c.rep.Helper()
	s, err := c.slot(i)
	if err != nil {
		return err
	}
	if err := c.usable(); err != nil {
		return err
	}
	s.op.Lock()
	defer s.op.Unlock()
	c.mu.Lock()
	running := s.running
	c.mu.Unlock()
	if running {
		return fmt.Errorf("restart %s: %w", s.name, ErrRunning)
	}
	c.recordFault("restart %s", s.name)
	return c.startSlot(s, true)
}

// Stop makes node i leave gracefully: a leader hands leadership over, the
// server is removed from the Raft configuration, the node leaves gossip and
// closes. [Cluster.Restart] brings it back; the leader adds it again.
func (c *Cluster) Stop(i int) error {
	c.rep.Helper()
	return c.check(c.stopNode(i))
}

func (c *Cluster) stopNode(i int) error {
	c.rep.Helper()
	s, node, _, err := c.bringDown(i, "stop")
	if err != nil {
		return err
	}
	defer s.op.Unlock()
	c.recordFault("stop %s (graceful leave)", s.name)
	ctx, cancel := context.WithTimeout(context.Background(), c.set.timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- node.Leave(ctx) }()
	t := time.NewTimer(2 * c.set.timeout)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("stop %s: %w", s.name, err)
		}
		return nil
	case <-t.C:
		return fmt.Errorf("%w: %s: Leave did not return within %v; goroutines: %s", ErrHung, s.name, 2*c.set.timeout, dumpGoroutines())
	}
}

// Shutdown closes node i without leaving, as a process does on SIGTERM
// when it is not told to leave: a leader hands leadership over, the server
// keeps its Raft seat and its data dir. [Cluster.Restart] brings it back.
func (c *Cluster) Shutdown(i int) error {
	c.rep.Helper()
	return c.check(c.shutdown(i))
}

func (c *Cluster) shutdown(i int) error {
	c.rep.Helper()
	s, node, _, err := c.bringDown(i, "shutdown")
	if err != nil {
		return err
	}
	defer s.op.Unlock()
	c.recordFault("shutdown %s", s.name)
	return c.closeNode(s.name, node)
}

// Partition splits the network into groups of node indexes: traffic flows
// only within a group. A node in no group is cut off from every other
// node. It replaces an earlier partition; cuts and isolations stay.
func (c *Cluster) Partition(groups ...[]int) error {
	c.rep.Helper()
	return c.check(c.partition(groups))
}

func (c *Cluster) partition(groups [][]int) error {
	c.rep.Helper()
	named := make([][]string, len(groups))
	for g, idx := range groups {
		names, err := c.names(idx)
		if err != nil {
			return err
		}
		named[g] = names
	}
	if err := c.net.Partition(named...); err != nil {
		return err
	}
	c.recordFault("partition %v", named)
	return nil
}

// Isolate cuts node i off from every other node, both ways.
func (c *Cluster) Isolate(i int) error {
	c.rep.Helper()
	s, err := c.slot(i)
	if err == nil {
		err = c.net.Isolate(s.name)
	}
	if err == nil {
		c.recordFault("isolate %s", s.name)
	}
	return c.check(err)
}

// Cut drops traffic from node from to node to, in that direction only. A
// new TCP connection needs both directions, so dials between them fail
// either way; datagrams from to to from still arrive.
func (c *Cluster) Cut(from, to int) error {
	c.rep.Helper()
	return c.check(c.link(from, to, "cut", func(f, t string) error { return c.net.Cut(f, t) }))
}

// Heal removes every partition, isolation and cut. Loss, delay and pauses
// stay.
func (c *Cluster) Heal() error {
	c.rep.Helper()
	if err := c.usable(); err != nil {
		return c.check(err)
	}
	c.net.Heal()
	c.recordFault("heal")
	return nil
}

// SetLoss makes every link lose a fraction p (0 to 1) of its datagrams;
// stream segments "lost" arrive one retransmission timeout (200ms) late, as
// TCP would deliver them. Links with their own SetLinkLoss keep theirs.
// SetLoss(0) ends it.
func (c *Cluster) SetLoss(p float64) error {
	c.rep.Helper()
	err := c.net.SetLoss(p)
	if err == nil {
		c.recordFault("set loss %.2f", p)
	}
	return c.check(err)
}

// SetLinkLoss sets the loss of the link from -> to only.
func (c *Cluster) SetLinkLoss(from, to int, p float64) error {
	c.rep.Helper()
	return c.check(c.link(from, to, fmt.Sprintf("set loss %.2f on", p), func(f, t string) error {
		return c.net.SetLinkLoss(f, t, p)
	}))
}

// SetDelay delays every message on every link by d plus a uniform random
// extra below jitter. Links with their own SetLinkDelay keep theirs.
// SetDelay(0, 0) ends it.
func (c *Cluster) SetDelay(d, jitter time.Duration) error {
	c.rep.Helper()
	err := c.net.SetDelay(d, jitter)
	if err == nil {
		c.recordFault("set delay %v jitter %v", d, jitter)
	}
	return c.check(err)
}

// SetLinkDelay sets the delay of the link from -> to only.
func (c *Cluster) SetLinkDelay(from, to int, d, jitter time.Duration) error {
	c.rep.Helper()
	return c.check(c.link(from, to, fmt.Sprintf("set delay %v jitter %v on", d, jitter), func(f, t string) error {
		return c.net.SetLinkDelay(f, t, d, jitter)
	}))
}

// ClearLinkFaults removes every per-link loss and delay.
func (c *Cluster) ClearLinkFaults() error {
	c.rep.Helper()
	if err := c.usable(); err != nil {
		return c.check(err)
	}
	c.net.ClearLinkFaults()
	c.recordFault("clear link faults")
	return nil
}

// Pause freezes node i's traffic, like a long GC pause or a stopped VM:
// what it sends and what is sent to it is held, not dropped, and
// delivered late, in order, by [Cluster.Resume]. The node's own goroutines
// keep running.
func (c *Cluster) Pause(i int) error {
	c.rep.Helper()
	return c.check(c.setPaused(i, true))
}

// Resume ends a [Cluster.Pause] of node i and delivers the held traffic.
func (c *Cluster) Resume(i int) error {
	c.rep.Helper()
	return c.check(c.setPaused(i, false))
}

func (c *Cluster) setPaused(i int, paused bool) error {
	c.rep.Helper()
	s, err := c.slot(i)
	if err != nil {
		return err
	}
	if paused {
		err = c.net.Pause(s.name)
		c.recordFault("pause %s", s.name)
	} else {
		err = c.net.Resume(s.name)
		c.recordFault("resume %s", s.name)
	}
	return err
}

// link applies a fault to the link between two nodes.
func (c *Cluster) link(from, to int, what string, apply func(f, t string) error) error {
	c.rep.Helper()
	names, err := c.names([]int{from, to})
	if err != nil {
		return err
	}
	if err := apply(names[0], names[1]); err != nil {
		return err
	}
	c.recordFault("%s %s -> %s", what, names[0], names[1])
	return nil
}

// names maps node indexes to names.
func (c *Cluster) names(idx []int) ([]string, error) {
	names := make([]string, len(idx))
	for k, i := range idx {
		s, err := c.slot(i)
		if err != nil {
			return nil, err
		}
		names[k] = s.name
	}
	return names, nil
}

// bringDown marks running node i as down for verb ("kill", "stop") and
// returns its slot, node and network. It returns with s.op held, so that no
// other operation on the node interleaves; the caller unlocks it.
func (c *Cluster) bringDown(i int, verb string) (*slot, *cluster.Node, *nodeNet, error) {
	s, err := c.runningSlot(i)
	if err != nil {
		return nil, nil, nil, err
	}
	s.op.Lock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !s.running {
		s.op.Unlock()
		return nil, nil, nil, fmt.Errorf("%s %s: %w", verb, s.name, ErrNotRunning)
	}
	s.running = false
	return s, s.node, s.net, nil
}

// runningSlot returns node i's slot if the cluster is open.
func (c *Cluster) runningSlot(i int) (*slot, error) {
	s, err := c.slot(i)
	if err != nil {
		return nil, err
	}
	return s, c.usable()
}

func (c *Cluster) usable() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	return nil
}
