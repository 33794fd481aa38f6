package bench

import (
	"context"
	"errors"
	"fmt"
	"github.com/hashicorp/memberlist"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/conclave-go/conclave/cluster"
	"github.com/conclave-go/conclave/internal/faultnet"
	"github.com/conclave-go/conclave/membership"
)

// GossipOptions configure the membership-only scenarios: N client nodes
// (gossip only) on a fault-injecting network.
type GossipOptions struct {
	// N is the number of nodes. Required.
	N int
	// Profile is the cluster's timing profile.
	Profile cluster.Profile
	// Timing, when set, overrides the profile's membership timings field by
	// field (zero fields keep the profile's).
	Timing *membership.Timing
	// MemberlistDefaults runs memberlist on its own DefaultLANConfig
	// (Tuning.Memberlist), message compression included, with Timing on
	// top and Conclave's own loops on the profile's timing.
	MemberlistDefaults bool
	// Trials is the number of repetitions; zero means 5.
	Trials int
	// Logger receives the nodes' logs; nil discards them.
	Logger *slog.Logger
}

// members is a membership-only cluster.
type members struct {
	o     GossipOptions
	fn    *faultnet.Network
	nodes []*cluster.Node
	addrs []string
}

func startMembers(ctx context.Context, o GossipOptions) (*members, error) {
	m := &members{o: o, fn: faultnet.New(1, o.Logger)}
	for i := range o.N {
		n, err := m.start(ctx, i, "127.0.0.1:0")
		if err != nil {
			m.close()
			return nil, err
		}
		m.nodes = append(m.nodes, n)
		m.addrs = append(m.addrs, n.Local().Address())
	}
	if err := m.waitFull(ctx); err != nil {
		m.close()
		return nil, err
	}
	return m, nil
}

func (m *members) start(ctx context.Context, i int, addr string) (*cluster.Node, error) {
	cfg := cluster.Config{
		Name: nodeName(i), BindAddr: addr, Profile: m.o.Profile,
		Network: m.fn.Host(nodeName(i)), Logger: m.o.Logger,
	}
	gossipTuning(&cfg, m.o.Timing, m.o.MemberlistDefaults)
	for j, n := range m.nodes {
		if n != nil && j != i {
			cfg.Seeds = append(cfg.Seeds, m.addrs[j])
			if len(cfg.Seeds) == 3 {
				break
			}
		}
	}
	n, err := cluster.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := n.Start(ctx); err != nil {
		return nil, err
	}
	return n, nil
}

// seesAll reports whether every running node sees every node alive.
func (m *members) seesAll() bool {
	for _, n := range m.nodes {
		if n == nil {
			return false
		}
		alive := 0
		for _, mb := range n.Members() {
			if mb.Status == membership.StatusAlive {
				alive++
			}
		}
		if alive != len(m.nodes) {
			return false
		}
	}
	return true
}

func (m *members) waitFull(ctx context.Context) error {
	tctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := poll(tctx, m.seesAll); err != nil {
		return fmt.Errorf("bench: %d members never all saw each other: %w", len(m.nodes), err)
	}
	return nil
}

// allSee reports whether every running node other than those in skip sees
// each of names with status st.
func (m *members) allSee(names map[string]bool, st membership.Status, skip map[int]bool) bool {
	for i, n := range m.nodes {
		if n == nil || skip[i] {
			continue
		}
		seen := 0
		for _, mb := range n.Members() {
			if names[mb.Name] && mb.Status == st {
				seen++
			}
		}
		if seen != len(names) {
			return false
		}
	}
	return true
}

func (m *members) close() {
	for _, n := range m.nodes {
		if n != nil {
			_ = n.Close()
		}
	}
	_ = m.fn.Close()
}

func gossipTrials(o GossipOptions) int {
	if o.Trials == 0 {
		return 5
	}
	return o.Trials
}

// Detection crashes one node (sockets closed, host cut off) and measures
// the time until every other node lists it as failed. The node is restarted
// between trials.
func Detection(ctx context.Context, o GossipOptions) (Samples, error) {
	m, err := startMembers(ctx, o)
	if err != nil {
		return nil, err
	}
	defer m.close()
	var out Samples
	for t := range gossipTrials(o) {
		v := 1 + t%(o.N-1)
		name := nodeName(v)
		t0 := time.Now()
		_ = m.fn.Isolate(name)
		m.fn.Host(name).Kill()
		_ = m.nodes[v].Close()
		m.nodes[v] = nil
		tctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err := poll(tctx, func() bool { return m.allSee(map[string]bool{name: true}, membership.StatusFailed, nil) })
		cancel()
		if err != nil {
			return out, fmt.Errorf("bench: detection of %s: %w", name, err)
		}
		out = append(out, time.Since(t0))
		m.fn.Heal()
		if m.nodes[v], err = m.start(ctx, v, m.addrs[v]); err != nil {
			return out, err
		}
		if err := m.waitFull(ctx); err != nil {
			return out, err
		}
	}
	return out, nil
}

// PauseFalseFailures holds all traffic of one node for pause, as a stopped
// process would see, then resumes it and watches for settle: it returns how
// many failure events for that node the other nodes saw.
func PauseFalseFailures(ctx context.Context, o GossipOptions, pause, settle time.Duration) (int, error) {
	m, err := startMembers(ctx, o)
	if err != nil {
		return 0, err
	}
	defer m.close()
	victim := nodeName(o.N - 1)
	var failed atomic.Int64
	var subs []*membership.Subscription
	done := make(chan struct{})
	for _, n := range m.nodes[:o.N-1] {
		sub := n.Membership().Subscribe(1024)
		subs = append(subs, sub)
		go func() {
			for ev := range sub.Events() {
				if ev.Type == membership.EventFailed && ev.Member.Name == victim {
					failed.Add(1)
				}
			}
			done <- struct{}{}
		}()
	}
	_ = m.fn.Pause(victim)
	wait(ctx, pause)
	_ = m.fn.Resume(victim)
	wait(ctx, settle)
	for _, s := range subs {
		s.Close()
		<-done
	}
	return int(failed.Load()), ctx.Err()
}

// wait sleeps for d or until ctx ends. Scenarios use it to hold a fault for
// a given time, which is what they measure.
func wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// HealTime partitions the nodes into two halves, waits until each side
// lists the other as failed and then for the profile's GossipToTheDeadTime
// (so that gossip no longer reaches the other side and only the reconnect
// loop can heal), heals, and measures the time until every node lists
// every node alive.
func HealTime(ctx context.Context, o GossipOptions) (Samples, error) {
	if o.N < 2 {
		return nil, errors.New("bench: HealTime needs at least 2 nodes")
	}
	m, err := startMembers(ctx, o)
	if err != nil {
		return nil, err
	}
	defer m.close()
	var a, b []string
	for i := range o.N {
		if i < o.N/2 {
			a = append(a, nodeName(i))
		} else {
			b = append(b, nodeName(i))
		}
	}
	var out Samples
	for range gossipTrials(o) {
		if err := m.fn.Partition(a, b); err != nil {
			return out, err
		}
		tctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		err := poll(tctx, func() bool {
			return m.sideSees(a, b) && m.sideSees(b, a)
		})
		cancel()
		if err != nil {
			return out, fmt.Errorf("bench: partition never detected: %w", err)
		}
		wait(ctx, o.effectiveTiming().GossipToTheDeadTime+time.Second)
		t0 := time.Now()
		m.fn.Heal()
		if err := m.waitFull(ctx); err != nil {
			return out, err
		}
		out = append(out, time.Since(t0))
	}
	return out, nil
}

// sideSees reports whether every node named in from lists every node named
// in other as failed.
func (m *members) sideSees(from, other []string) bool {
	names := map[string]bool{}
	for _, n := range other {
		names[n] = true
	}
	skip := map[int]bool{}
	for i := range m.nodes {
		skip[i] = true
	}
	for _, n := range from {
		var i int
		_, _ = fmt.Sscanf(n, "node-%d", &i)
		delete(skip, i)
	}
	return m.allSee(names, membership.StatusFailed, skip)
}

// effectiveTiming returns the membership timings the nodes run with.
func (o GossipOptions) effectiveTiming() membership.Timing {
	t := memberProfile(o.Profile).Timing()
	if o.Timing != nil && o.Timing.GossipToTheDeadTime > 0 {
		t.GossipToTheDeadTime = o.Timing.GossipToTheDeadTime
	}
	return t
}

// memberProfile maps a cluster profile to the membership one it uses.
func memberProfile(p cluster.Profile) membership.Profile {
	switch p {
	case cluster.ProfileLocal:
		return membership.Local
	case cluster.ProfileWAN:
		return membership.WAN
	default:
		return membership.LAN
	}
}

// gossipTuning sets a node's membership tuning: timing, when set, over the
// profile's, and memberlist's own LAN settings when defaults is set.
func gossipTuning(cfg *cluster.Config, timing *membership.Timing, defaults bool) {
	if defaults {
		cfg.Tuning.Membership.Memberlist = memberlist.DefaultLANConfig()
	}
	if timing != nil {
		cfg.Tuning.Membership.Timing = *timing
	}
}

// MemberlistLANTiming overrides the LAN profile's failure-detection fields
// with memberlist's own LAN values (1 s probes, 500 ms probe timeout,
// SuspicionMult 4 stretched up to 6 times by Lifeguard, 200 ms gossip),
// which the LAN profile used before its detection was tightened; for
// side-by-side figures.
func MemberlistLANTiming() membership.Timing {
	mc := memberlist.DefaultLANConfig()
	return membership.Timing{
		ProbeInterval:           mc.ProbeInterval,
		ProbeTimeout:            mc.ProbeTimeout,
		SuspicionMult:           mc.SuspicionMult,
		SuspicionMaxTimeoutMult: mc.SuspicionMaxTimeoutMult,
		GossipInterval:          mc.GossipInterval,
	}
}
