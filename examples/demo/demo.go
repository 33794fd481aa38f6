package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/conclave-go/conclave/cluster"
	"github.com/conclave-go/conclave/cluster/clustertest"
	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/membership"
)

// demo holds the running cluster and the narration.
type demo struct {
	o      options
	out    io.Writer
	c      *clustertest.Cluster
	start  time.Time
	writes int // acknowledged writes so far, keys k0..k(writes-1)
}

// stepTimeout bounds each step; the whole demo is meant to take well under
// a minute on the local profile.
func (d *demo) stepTimeout() time.Duration {
	switch d.o.profile {
	case cluster.ProfileLocal:
		return 20 * time.Second
	case cluster.ProfileWAN:
		return 3 * time.Minute
	}
	return time.Minute
}

func newDemo(o options, out io.Writer) (*demo, error) {
	d := &demo{o: o, out: out, start: time.Now()}
	d.say("starting %d nodes on loopback: %d servers, %d clients; profile %s, seed %d",
		o.nodes, o.servers, o.nodes-o.servers, o.profile, o.seed)
	c, err := clustertest.Start(o.nodes,
		clustertest.WithServers(o.servers),
		clustertest.WithProfile(o.profile),
		clustertest.WithSeed(o.seed),
		clustertest.WithTimeout(d.stepTimeout()))
	if err != nil {
		return nil, err
	}
	d.c = c
	return d, nil
}

func (d *demo) close() {
	if err := d.c.Close(); err != nil {
		d.say("close: %v", err)
	}
}

func (d *demo) elapsed() time.Duration { return time.Since(d.start).Round(time.Millisecond) }

func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(d.out, "[%7.2fs] %s\n", time.Since(d.start).Seconds(), fmt.Sprintf(format, args...))
}

// timed runs fn and returns how long it took.
func timed(fn func() error) (time.Duration, error) {
	t := time.Now()
	err := fn()
	return time.Since(t).Round(time.Millisecond), err
}

func (d *demo) stepCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d.stepTimeout())
}

// formMembership waits until every node sees every other alive.
func (d *demo) formMembership(context.Context) error {
	if err := d.waitAllMembers(); err != nil {
		return err
	}
	d.say("gossip: all %d nodes see %d alive members, %s after start", d.o.nodes, d.o.nodes, d.elapsed())
	return nil
}

// bootstrap waits for the servers to agree on a leader.
func (d *demo) bootstrap(context.Context) error {
	lead := d.c.WaitLeader()
	if lead < 0 {
		return fmt.Errorf("no leader within %s", d.stepTimeout())
	}
	n := d.c.Node(lead)
	d.say("raft: %d servers bootstrapped from gossip (BootstrapExpect=%d); leader %s, term %d",
		d.o.servers, d.o.servers, n.Name(), n.Leader().Term)
	return nil
}

// writer is the node writes come from: a running client when there is one,
// else a running server other than avoid.
func (d *demo) writer(avoid int) int {
	for i := range d.o.nodes {
		if !d.c.IsServer(i) && d.c.Running(i) {
			return i
		}
	}
	for i := range d.o.nodes {
		if i != avoid && d.c.Running(i) {
			return i
		}
	}
	return -1
}

func (d *demo) put(ctx context.Context, from int) error {
	req := clustertest.KVRequest{Op: clustertest.OpPut, Key: fmt.Sprintf("k%d", d.writes), Value: fmt.Sprint(d.writes)}
	if _, err := d.c.Node(from).Apply(ctx, req.Encode()); err != nil {
		return err
	}
	d.writes++
	return nil
}

func (d *demo) clientWrites(ctx context.Context) error {
	ctx, cancel := d.stepCtx(ctx)
	defer cancel()
	from := d.writer(d.c.WaitLeader())
	const n = 20
	took, err := timed(func() error {
		for range n {
			if err := d.put(ctx, from); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	role := "client"
	if d.c.IsServer(from) {
		role = "server"
	}
	d.say("writes: %d puts from %s node %s, acknowledged by a quorum, %s each on average",
		n, role, d.c.Name(from), (took / n).Round(time.Microsecond))
	return nil
}

// followerRead reads the last write linearizably on a follower.
func (d *demo) followerRead(ctx context.Context) error {
	ctx, cancel := d.stepCtx(ctx)
	defer cancel()
	lead := d.c.WaitLeader()
	follower := d.followerOf(lead)
	key := fmt.Sprintf("k%d", d.writes-1)
	got, err := d.get(ctx, follower, key)
	if err != nil {
		return err
	}
	if got != fmt.Sprint(d.writes-1) {
		return fmt.Errorf("follower %s read %s=%q, want %q", d.c.Name(follower), key, got, fmt.Sprint(d.writes-1))
	}
	d.say("read: linearizable read of %s on follower %s returns the latest write (%s)", key, d.c.Name(follower), got)
	return nil
}

func (d *demo) followerOf(lead int) int {
	for _, i := range d.c.Servers() {
		if i != lead && d.c.Running(i) {
			return i
		}
	}
	return -1
}

func (d *demo) get(ctx context.Context, from int, key string) (string, error) {
	q := clustertest.KVRequest{Op: clustertest.OpGet, Key: key}.Encode()
	b, err := d.c.Node(from).Query(ctx, consensus.Linearizable, q)
	if err != nil {
		return "", err
	}
	res, err := clustertest.DecodeKVResult(b)
	return res.Value, err
}

// writeUntilAcked retries one put with short attempts until it is
// acknowledged, and returns how long that took.
func (d *demo) writeUntilAcked(ctx context.Context, from int) (time.Duration, error) {
	return timed(func() error {
		for {
			actx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			err := d.put(actx, from)
			cancel()
			if err == nil || ctx.Err() != nil {
				return err
			}
		}
	})
}

func (d *demo) failover(ctx context.Context) error {
	ctx, cancel := d.stepCtx(ctx)
	defer cancel()
	lead := d.c.WaitLeader()
	old, from := d.c.Name(lead), d.writer(lead)
	if err := d.c.Kill(lead); err != nil {
		return err
	}
	took, err := d.writeUntilAcked(ctx, from)
	if err != nil {
		return fmt.Errorf("no write acknowledged after killing the leader: %w", err)
	}
	next := d.c.WaitLeader()
	d.say("failover: killed leader %s; %s led term %d; next write acknowledged %s after the kill",
		old, d.c.Name(next), d.c.Node(next).Leader().Term, took)

	if err := d.c.Restart(lead); err != nil {
		return err
	}
	if err := d.c.WaitApplied(lead); err != nil {
		return err
	}
	d.say("restart: %s came back with its data dir and caught up as a follower", old)
	return nil
}

// partition cuts one follower (and one client, if any) off from the rest,
// shows the majority keeps writing while the minority refuses linearizable
// reads, then heals.
func (d *demo) partition(ctx context.Context) error {
	ctx, cancel := d.stepCtx(ctx)
	defer cancel()
	lead := d.c.WaitLeader()
	cutoff := d.followerOf(lead)
	if err := d.c.Isolate(cutoff); err != nil {
		return err
	}
	if err := d.writeMajority(ctx); err != nil {
		return err
	}
	rctx, rcancel := context.WithTimeout(ctx, time.Second)
	_, err := d.get(rctx, cutoff, "k0")
	rcancel()
	if err == nil {
		return fmt.Errorf("isolated %s served a linearizable read", d.c.Name(cutoff))
	}
	d.say("partition: %s isolated; the majority keeps writing; %s refuses linearizable reads (%v)",
		d.c.Name(cutoff), d.c.Name(cutoff), shortErr(err))

	err = d.c.WaitFor(func() bool { return d.statusOf(lead, d.c.Name(cutoff)) == membership.StatusFailed },
		"the majority to see "+d.c.Name(cutoff)+" failed")
	if err != nil {
		return err
	}
	d.say("gossip: the majority marked %s failed; healing the network", d.c.Name(cutoff))
	if err := d.c.Heal(); err != nil {
		return err
	}
	took, err := timed(d.waitAllMembers)
	if err != nil {
		return err
	}
	key := fmt.Sprintf("k%d", d.writes-1)
	got, err := d.get(ctx, cutoff, key)
	if err != nil || got != fmt.Sprint(d.writes-1) {
		return fmt.Errorf("after heal %s read %s=%q (%v)", d.c.Name(cutoff), key, got, err)
	}
	d.say("heal: every node sees %d alive members %s after the heal; %s reads the latest write linearizably",
		d.o.nodes, took, d.c.Name(cutoff))
	return nil
}

// waitAllMembers waits until every running node sees every node alive.
func (d *demo) waitAllMembers() error {
	for i := range d.o.nodes {
		if !d.c.Running(i) {
			continue
		}
		if err := d.c.WaitMembers(i, d.o.nodes); err != nil {
			return err
		}
	}
	return nil
}

func (d *demo) writeMajority(ctx context.Context) error {
	const n = 5
	for range n {
		if _, err := d.writeUntilAcked(ctx, d.c.WaitLeader()); err != nil {
			return err
		}
	}
	return nil
}

func shortErr(err error) string {
	s := err.Error()
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

// leave makes a follower leave gracefully: peers record a departure, not a
// failure, and the leader removes it from the Raft configuration.
func (d *demo) leave(ctx context.Context) error {
	lead := d.c.WaitLeader()
	leaver := d.followerOf(lead)
	name := d.c.Name(leaver)
	took, err := timed(func() error { return d.c.Stop(leaver) })
	if err != nil {
		return err
	}
	err = d.c.WaitFor(func() bool {
		return d.statusOf(lead, name) == membership.StatusLeft && !d.inConfig(ctx, lead, name)
	}, name+" recorded as left and out of the Raft configuration")
	if err != nil {
		return err
	}
	d.say("leave: %s left gracefully in %s; gossip records it as left, and the leader removed it from Raft", name, took)
	return nil
}

func (d *demo) statusOf(i int, name string) membership.Status {
	for _, m := range d.c.Node(i).Members() {
		if m.Name == name {
			return m.Status
		}
	}
	return membership.StatusNone
}

func (d *demo) inConfig(ctx context.Context, lead int, name string) bool {
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	servers, err := d.c.Node(d.c.WaitLeader()).Consensus().Configuration(cctx)
	if err != nil {
		return true
	}
	for _, s := range servers {
		if s.Name == name {
			return true
		}
	}
	return false
}
