package clustertest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/testkit"
)

// The nemesis suite: clients run against the KV state machine while a
// seeded schedule injects every fault the harness has, then every node is
// crashed and restarted and the history is checked for linearizability and
// lost writes. By default one short history runs; CONCLAVE_SOAK=<duration>
// (e.g. 30m) runs histories back to back for that long. CONCLAVE_SEED
// repeats a schedule.

// nemesisShort is how long faults are injected in the default run.
const nemesisShort = 12 * time.Second

// nemesisSoakHistory is how long faults are injected in each soak history.
const nemesisSoakHistory = 30 * time.Second

// nemesisTotals sums the histories of a run.
type nemesisTotals struct {
	histories, ok, failed, unknown, faults, anomalies, terms int
	brokenRuns                                               int // histories that failed before their check (hangs, lost liveness)
	byKind                                                   map[string]int
	checkTime                                                time.Duration
}

func (s nemesisTotals) String() string {
	return fmt.Sprintf("histories checked %d (%d more broke off before the check), operations %d (ok %d / failed %d / unknown %d), faults injected %d %v, leader terms %d, anomalies %d, checker time %v",
		s.histories, s.brokenRuns, s.ok+s.failed+s.unknown, s.ok, s.failed, s.unknown, s.faults, s.byKind, s.terms, s.anomalies, s.checkTime.Round(time.Millisecond))
}

func TestNemesis(t *testing.T) {
	soak := os.Getenv("CONCLAVE_SOAK")
	if soak == "" {
		totals := nemesisTotals{byKind: make(map[string]int)}
		runNemesis(t, 0, nemesisShort, &totals)
		t.Logf("nemesis: %s", totals)
		return
	}
	d, err := time.ParseDuration(soak)
	require.NoError(t, err, "CONCLAVE_SOAK must be a duration such as 30m")
	totals := nemesisTotals{byKind: make(map[string]int)}
	end := time.Now().Add(d)
	for i := 0; time.Now().Before(end); i++ {
		before := totals.histories
		t.Run(fmt.Sprintf("history-%d", i), func(t *testing.T) {
			runNemesis(t, i, nemesisSoakHistory, &totals)
		})
		if totals.histories == before {
			totals.brokenRuns++
		}
		t.Logf("nemesis after %d histories: %s", i+1, totals)
	}
	t.Logf("nemesis soak of %v: %s", d, totals)
	require.Zero(t, totals.anomalies)
	require.Zero(t, totals.brokenRuns)
}

// runNemesis runs one history: odd histories have five servers, even ones
// three, each plus one client node.
func runNemesis(t *testing.T, round int, faultTime time.Duration, totals *nemesisTotals) {
	servers := 3
	if round%2 == 1 {
		servers = 5
	}
	c := New(t, servers+1, testOpts(t, WithServers(servers))...)
	h := NewHistory()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { c.RunWorkload(ctx, h, Workload{Clients: 2 * (servers + 1)}) })
	defer func() { cancel(); wg.Wait() }()

	n := &nemesis{t: t, c: c, injected: make(map[string]int)}
	for end := time.Now().Add(faultTime); time.Now().Before(end) && !t.Failed(); {
		n.inject()
	}
	n.calm()
	cancel()
	wg.Wait()
	n.restartAll()
	lead := c.WaitLeader()
	require.NoError(t, h.ReadFinal(testkit.Context(t, 30*time.Second), c.Node(lead)))
	r := c.Check(h)

	terms := len(c.LeaderTerms())
	totals.histories++
	totals.ok += r.OK
	totals.failed += r.Failed
	totals.unknown += r.Unknown
	injected := 0
	for kind, k := range n.injected {
		injected += k
		totals.byKind[kind] += k
	}
	totals.faults += injected
	totals.terms += terms
	totals.checkTime += r.Elapsed
	if !r.Passed() {
		totals.anomalies++
	}
	if c.leaders.err() != nil {
		totals.anomalies++
	}
	t.Logf("nemesis history %d (seed %d, %d servers): %s; %d faults injected %v, %d leader terms",
		round, c.Seed(), servers, r, injected, n.injected, terms)
}

// nemesis injects seeded faults into a cluster, one at a time: each is
// held for a while, undone, and the cluster must then recover a leader.
type nemesis struct {
	t        *testing.T
	c        *Cluster
	injected map[string]int // faults injected, by kind
}

// fault is one kind of fault: apply injects it and returns its undo.
type fault struct {
	name  string
	apply func() (undo func())
}

// faults is the nemesis's repertoire.
func (n *nemesis) faults() []fault {
	c := n.c
	heal := func() { c.Heal() }
	return []fault{
		{"kill", func() func() { i := n.server(); c.Kill(i); return func() { c.Restart(i) } }},
		{"kill-leader", func() func() { i := c.WaitLeader(); c.Kill(i); return func() { c.Restart(i) } }},
		{"kill-client", func() func() { i := c.Len() - 1; c.Kill(i); return func() { c.Restart(i) } }},
		{"partition", func() func() { c.Partition(n.halves()...); return heal }},
		{"isolate-leader", func() func() { c.Isolate(c.WaitLeader()); return heal }},
		{"cut-leader-out", func() func() { n.cutLeader(true); return heal }},
		{"cut-leader-in", func() func() { n.cutLeader(false); return heal }},
		{"cut", func() func() { i, j := n.pair(); c.Cut(i, j); return heal }},
		{"loss", func() func() { c.SetLoss(0.05 + 0.25*c.Rand().Float64()); return func() { c.SetLoss(0) } }},
		{"link-loss", func() func() {
			i, j := n.pair()
			c.SetLinkLoss(i, j, 0.5)
			c.SetLinkLoss(j, i, 0.5)
			return func() { c.ClearLinkFaults() }
		}},
		{"delay", func() func() {
			c.SetDelay(time.Duration(2+c.Rand().IntN(30))*time.Millisecond, time.Duration(c.Rand().IntN(20))*time.Millisecond)
			return func() { c.SetDelay(0, 0) }
		}},
		{"leader-delay", func() func() {
			lead := c.WaitLeader()
			for _, j := range c.Except(lead) {
				c.SetLinkDelay(lead, j, time.Duration(50+c.Rand().IntN(250))*time.Millisecond, 0)
			}
			return func() { c.ClearLinkFaults() }
		}},
		{"pause", func() func() { i := n.server(); c.Pause(i); return func() { c.Resume(i) } }},
		{"pause-leader", func() func() { i := c.WaitLeader(); c.Pause(i); return func() { c.Resume(i) } }},
		{"leader-leave", func() func() { i := c.WaitLeader(); c.Stop(i); return func() { c.Restart(i) } }},
	}
}

// inject runs one fault: apply, hold 0.3-1.8s, undo, recover.
func (n *nemesis) inject() {
	c := n.c
	faults := n.faults()
	f := faults[c.Rand().IntN(len(faults))]
	n.injected[f.name]++
	undo := f.apply()
	n.hold(300*time.Millisecond + time.Duration(c.Rand().IntN(1500))*time.Millisecond)
	undo()
	c.WaitLeader()
	n.hold(time.Duration(c.Rand().IntN(500)) * time.Millisecond)
}

// hold lets the workload run under the current faults for d.
func (n *nemesis) hold(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	<-t.C
}

// calm removes every fault.
func (n *nemesis) calm() {
	c := n.c
	c.Heal()
	c.SetLoss(0)
	c.SetDelay(0, 0)
	c.ClearLinkFaults()
}

// restartAll crashes every node and restarts it from its data dir.
func (n *nemesis) restartAll() {
	c := n.c
	for i := range c.Len() {
		if c.Running(i) {
			c.Kill(i)
		}
	}
	for i := range c.Len() {
		c.Restart(i)
	}
	for i := range c.Len() {
		c.WaitMembers(i, c.Len())
	}
}

// server returns a random server.
func (n *nemesis) server() int { return n.c.Rand().IntN(len(n.c.Servers())) }

// pair returns two distinct random servers.
func (n *nemesis) pair() (int, int) {
	i := n.server()
	j := (i + 1 + n.c.Rand().IntN(len(n.c.Servers())-1)) % len(n.c.Servers())
	return i, j
}

// halves splits every node into two random non-empty groups.
func (n *nemesis) halves() [][]int {
	idx := n.c.Rand().Perm(n.c.Len())
	k := 1 + n.c.Rand().IntN(len(idx)-1)
	return [][]int{idx[:k], idx[k:]}
}

// cutLeader cuts the leader's links one way: outbound (it can no longer
// send heartbeats) or inbound (it no longer hears acknowledgements).
func (n *nemesis) cutLeader(outbound bool) {
	c := n.c
	lead := c.WaitLeader()
	for _, j := range c.Except(lead) {
		if outbound {
			c.Cut(lead, j)
		} else {
			c.Cut(j, lead)
		}
	}
}
