package clustertest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/conclave-go/conclave/cluster"
	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/membership"
)

// pollInterval is how often the Wait methods check their condition.
const pollInterval = 20 * time.Millisecond

// Leader polls until the servers among the given indexes (default: every
// running server) agree on one leader that is itself among them, running
// and in the leader state, and returns its index. It gives up when ctx ends,
// with an error saying what each server saw last. It never fails the test.
func (c *Cluster) Leader(ctx context.Context, among ...int) (int, error) {
	lead := -1
	err := c.pollCtx(ctx, "an agreed leader", func() (bool, string) {
		var seen string
		lead, seen = c.leaderOnce(among)
		return lead >= 0, seen
	})
	return lead, err
}

// WaitLeader is [Cluster.Leader] bounded by the cluster's timeout (see
// [WithTimeout]). On failure it fails the test, or, in a cluster built by
// [Start], returns -1.
func (c *Cluster) WaitLeader(among ...int) int {
	c.rep.Helper()
	lead, err := c.waitLeader(among)
	if c.check(err) != nil {
		return -1
	}
	return lead
}

func (c *Cluster) waitLeader(among []int) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.set.timeout)
	defer cancel()
	return c.Leader(ctx, among...)
}

// leaderOnce returns the leader the servers among idx agree on, or -1, and
// a description of what each saw.
func (c *Cluster) leaderOnce(idx []int) (int, string) {
	if len(idx) == 0 {
		idx = c.Servers()
	}
	views := make([]string, 0, len(idx))
	agreed, members := "", map[string]bool{}
	ok := true
	for _, i := range idx {
		s, err := c.slot(i)
		if err != nil || !s.server {
			return -1, fmt.Sprintf("node %d is not a server", i)
		}
		node, running := c.instance(s)
		if !running {
			continue
		}
		members[s.name] = true
		li := node.Leader()
		views = append(views, fmt.Sprintf("%s sees %q term %d", s.name, li.Name, li.Term))
		if li.Name == "" || (agreed != "" && li.Name != agreed) {
			ok = false
		}
		agreed = li.Name
	}
	seen := strings.Join(views, "; ")
	if !ok || agreed == "" || !members[agreed] {
		return -1, seen
	}
	lead := c.Index(agreed)
	node, _ := c.instance(c.slots[lead])
	if node.Consensus().Status().State != consensus.StateLeader {
		return -1, seen + "; " + agreed + " is not in the leader state"
	}
	return lead, seen
}

// WaitMembers waits until node i sees n alive members, itself included.
func (c *Cluster) WaitMembers(i, n int) error {
	c.rep.Helper()
	return c.check(c.waitMembers(i, n))
}

func (c *Cluster) waitMembers(i, n int) error {
	s, err := c.slot(i)
	if err != nil {
		return err
	}
	return c.poll(fmt.Sprintf("%s to see %d alive members", s.name, n), func() (bool, string) {
		node, _ := c.instance(s)
		alive, desc := 0, []string{}
		for _, m := range node.Members() {
			if m.Status == membership.StatusAlive {
				alive++
			}
			desc = append(desc, m.Name+":"+m.Status.String())
		}
		sort.Strings(desc)
		return alive == n, fmt.Sprintf("%d alive: %s", alive, strings.Join(desc, " "))
	})
}

// WaitApplied waits until every given server (default: every running
// server) has applied all the entries the leader had committed when the
// call began: their state machines then hold every write acknowledged
// before the call.
func (c *Cluster) WaitApplied(nodes ...int) error {
	c.rep.Helper()
	return c.check(c.waitApplied(nodes))
}

func (c *Cluster) waitApplied(nodes []int) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.set.timeout)
	defer cancel()
	lead, err := c.Leader(ctx)
	if err != nil {
		return err
	}
	leader, _ := c.instance(c.slots[lead])
	// A new leader knows the true commit index only once it has committed
	// an entry of its own term; a linearizable read waits for that.
	if err := leader.Read(ctx, consensus.Linearizable, func(consensus.StateMachine) error { return nil }); err != nil {
		return fmt.Errorf("clustertest: read index on %s: %w", c.slots[lead].name, err)
	}
	target := leader.Consensus().Status().CommitIndex
	if len(nodes) == 0 {
		nodes = c.Servers()
	}
	return c.poll(fmt.Sprintf("servers %v to apply index %d", nodes, target), func() (bool, string) {
		done, desc := true, []string{}
		for _, i := range nodes {
			s, err := c.slot(i)
			if err != nil || !s.server {
				return false, fmt.Sprintf("node %d is not a server", i)
			}
			node, running := c.instance(s)
			if !running {
				continue
			}
			applied := node.Consensus().Status().AppliedIndex
			done = done && applied >= target
			desc = append(desc, fmt.Sprintf("%s applied %d", s.name, applied))
		}
		return done, strings.Join(desc, ", ")
	})
}

// WaitFor polls cond until it holds or the cluster's timeout passes; what
// describes the condition in the failure message.
func (c *Cluster) WaitFor(cond func() bool, what string) error {
	c.rep.Helper()
	return c.check(c.poll(what, func() (bool, string) { return cond(), "" }))
}

// poll runs cond every pollInterval until it holds or the cluster's timeout
// passes.
func (c *Cluster) poll(what string, cond func() (bool, string)) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.set.timeout)
	defer cancel()
	return c.pollCtx(ctx, what, cond)
}

func (c *Cluster) pollCtx(ctx context.Context, what string, cond func() (bool, string)) error {
	start := time.Now()
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		ok, seen := cond()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			msg := fmt.Sprintf("%v after %v waiting for %s", ErrTimeout, time.Since(start).Round(time.Millisecond), what)
			if seen != "" {
				msg += "; last seen: " + seen
			}
			return &waitError{msg: msg}
		case <-c.stop:
			return ErrClosed
		case <-t.C:
		}
	}
}

// waitError is a timeout of a Wait method; it matches ErrTimeout.
type waitError struct{ msg string }

func (e *waitError) Error() string        { return e.msg }
func (e *waitError) Is(target error) bool { return target == ErrTimeout }

// instance returns the current node of s and whether it is running.
func (c *Cluster) instance(s *slot) (node *cluster.Node, running bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return s.node, s.running
}
