// Command membership shows gossip membership on its own: five nodes in one
// process, on the loopback interface, form a cluster, spread a user event,
// answer a filtered query, detect a crashed node and record a graceful
// leave. It prints what happens with timings and exits
// with status 0 only if every step behaved as claimed.
//
//	go run ./examples/membership
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/conclave-go/conclave/membership"
)

const (
	nodes = 5
	// stepTimeout bounds each step; on one machine each takes about a second.
	stepTimeout = 15 * time.Second
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "membership:", err)
		os.Exit(1)
	}
}

// run plays the scenario and returns an error if any step did not happen in
// time.
func run(ctx context.Context, out io.Writer) error {
	began := time.Now()
	cluster, err := startCluster(ctx, out)
	defer func() {
		for _, m := range cluster {
			_ = m.Close()
		}
	}()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "formed: every node sees %d alive members, %v after the first start\n",
		nodes, since(began))

	watch := cluster[0].Subscribe(0)
	defer watch.Close()
	go printEvents(out, watch)

	if err := userEvent(ctx, out, cluster); err != nil {
		return err
	}
	if err := query(ctx, out, cluster); err != nil {
		return err
	}

	crashed, leaver, rest := cluster[4], cluster[3], cluster[:3]
	if err := crash(ctx, out, crashed, cluster[:4]); err != nil {
		return err
	}
	if err := leave(ctx, out, leaver, rest); err != nil {
		return err
	}
	if err := check(rest, crashed.Local().Name, leaver.Local().Name); err != nil {
		return err
	}
	fmt.Fprintf(out, "done in %v: %d alive, one failed, one left, as expected\n", since(began), len(rest))
	return nil
}

// startCluster starts the nodes one after another, each joining the first,
// and waits until all of them see each other.
func startCluster(ctx context.Context, out io.Writer) ([]*membership.Membership, error) {
	var started []*membership.Membership
	for i := range nodes {
		cfg := membership.Config{
			Name:     fmt.Sprintf("node-%d", i+1),
			BindAddr: "127.0.0.1:0",
			Profile:  membership.Local,
			Tags:     map[string]string{"index": fmt.Sprint(i + 1)},
		}
		if i > 0 {
			cfg.Seeds = []string{started[0].Local().Address()}
			cfg.WaitForJoin = true
		}
		m, err := membership.New(cfg)
		if err != nil {
			return started, err
		}
		index := cfg.Tags["index"]
		m.HandleQuery("load", func(_ context.Context, payload []byte) ([]byte, error) {
			return []byte("node " + index + " load 0." + index), nil
		})
		if err := m.Start(ctx); err != nil {
			return started, fmt.Errorf("start %s: %w", cfg.Name, err)
		}
		started = append(started, m)
		fmt.Fprintf(out, "started %s on %s\n", cfg.Name, m.Local().Address())
	}
	err := waitUntil(ctx, "the cluster to form", func() bool {
		for _, m := range started {
			if count(m, membership.StatusAlive) != nodes {
				return false
			}
		}
		return true
	})
	return started, err
}

// userEvent broadcasts an event from one node and waits until every node's
// subscription has delivered it.
func userEvent(ctx context.Context, out io.Writer, cluster []*membership.Membership) error {
	var subs []*membership.UserEventSubscription
	for _, m := range cluster {
		sub := m.SubscribeUserEvents(0)
		defer sub.Close()
		subs = append(subs, sub)
	}
	at := time.Now()
	if err := cluster[1].Broadcast("deploy", []byte("v2")); err != nil {
		return err
	}
	for i, sub := range subs {
		select {
		case ev := <-sub.Events():
			if ev.Name != "deploy" || string(ev.Payload) != "v2" {
				return fmt.Errorf("node-%d got event %q %q", i+1, ev.Name, ev.Payload)
			}
		case <-time.After(stepTimeout):
			return fmt.Errorf("node-%d did not get the event within %v", i+1, stepTimeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	fmt.Fprintf(out, "user event deploy=v2 from node-2 delivered on all %d nodes after %v\n", len(subs), since(at))
	return nil
}

// query asks the nodes whose index tag is 1 to 3 for their load and prints
// the answers as they arrive.
func query(ctx context.Context, out io.Writer, cluster []*membership.Membership) error {
	at := time.Now()
	res, err := cluster[0].Query(ctx, "load", nil, membership.QueryParams{
		FilterTags: map[string]string{"index": "[1-3]"},
		Timeout:    stepTimeout,
	})
	if err != nil {
		return err
	}
	n := 0
	for resp := range res.Responses() {
		if resp.Err != nil {
			return fmt.Errorf("query: %s: %w", resp.From, resp.Err)
		}
		n++
		fmt.Fprintf(out, "  %s answered: %s\n", resp.From, resp.Payload)
	}
	if missing := res.Missing(); len(missing) > 0 {
		return fmt.Errorf("query: no answer from %v", missing)
	}
	fmt.Fprintf(out, "query load answered by %d of %d matching nodes after %v\n", n, len(res.Expected()), since(at))
	return nil
}

// crash stops a node without leaving and waits until every other node has
// declared it failed.
func crash(ctx context.Context, out io.Writer, victim *membership.Membership, others []*membership.Membership) error {
	name := victim.Local().Name
	fmt.Fprintf(out, "crashing %s (closed without leaving)\n", name)
	at := time.Now()
	if err := victim.Close(); err != nil {
		return err
	}
	if err := waitUntil(ctx, name+" to be declared failed", allSee(others, name, membership.StatusFailed)); err != nil {
		return fmt.Errorf("%w (%s)", err, describe(others, name))
	}
	fmt.Fprintf(out, "%s declared failed by all %d other nodes after %v\n", name, len(others), since(at))
	return nil
}

// leave makes a node leave gracefully and waits until every other node has
// recorded the leave.
func leave(ctx context.Context, out io.Writer, leaver *membership.Membership, others []*membership.Membership) error {
	name := leaver.Local().Name
	fmt.Fprintf(out, "%s leaving gracefully\n", name)
	at := time.Now()
	lctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	if err := leaver.Leave(lctx); err != nil {
		return fmt.Errorf("leave %s: %w", name, err)
	}
	if err := waitUntil(ctx, name+" to be seen as left", allSee(others, name, membership.StatusLeft)); err != nil {
		return fmt.Errorf("%w (%s)", err, describe(others, name))
	}
	fmt.Fprintf(out, "%s seen as left (not failed) by all %d other nodes after %v\n", name, len(others), since(at))
	return nil
}

// check verifies the final view of every remaining node.
func check(rest []*membership.Membership, failed, left string) error {
	for _, m := range rest {
		if n := count(m, membership.StatusAlive); n != len(rest) {
			return fmt.Errorf("%s sees %d alive members, want %d", m.Local().Name, n, len(rest))
		}
		if s := status(m, failed); s != membership.StatusFailed {
			return fmt.Errorf("%s sees %s as %s, want failed", m.Local().Name, failed, s)
		}
		if s := status(m, left); s != membership.StatusLeft {
			return fmt.Errorf("%s sees %s as %s, want left", m.Local().Name, left, s)
		}
	}
	return nil
}

// printEvents prints what the first node observes.
func printEvents(out io.Writer, sub *membership.Subscription) {
	for ev := range sub.Events() {
		fmt.Fprintf(out, "  node-1 observed: %s\n", ev)
	}
}

func allSee(nodes []*membership.Membership, name string, want membership.Status) func() bool {
	return func() bool {
		for _, m := range nodes {
			if status(m, name) != want {
				return false
			}
		}
		return true
	}
}

// describe says how each node sees name.
func describe(nodes []*membership.Membership, name string) string {
	var parts []string
	for _, m := range nodes {
		parts = append(parts, fmt.Sprintf("%s sees it %s", m.Local().Name, status(m, name)))
	}
	return strings.Join(parts, ", ")
}

func status(m *membership.Membership, name string) membership.Status {
	for _, member := range m.Members() {
		if member.Name == name {
			return member.Status
		}
	}
	return membership.StatusNone
}

func count(m *membership.Membership, s membership.Status) int {
	n := 0
	for _, member := range m.Members() {
		if member.Status == s {
			n++
		}
	}
	return n
}

// waitUntil polls cond until it holds, stepTimeout passes or ctx is done.
func waitUntil(ctx context.Context, what string, cond func() bool) error {
	deadline := time.Now().Add(stepTimeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v waiting for %s", stepTimeout, what)
		}
		select {
		case <-ctx.Done():
			return errors.Join(fmt.Errorf("interrupted waiting for %s", what), ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

func since(t time.Time) time.Duration { return time.Since(t).Round(time.Millisecond) }
