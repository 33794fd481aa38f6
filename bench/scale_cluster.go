package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/conclave-go/conclave/cluster"
	"github.com/conclave-go/conclave/internal/faultnet"
	"github.com/conclave-go/conclave/membership"
)

// scaleSeeds is how many nodes are started first and given to every other
// node as its seeds, as a deployment names a few well-known members.
const scaleSeeds = 3

// scaleCluster is a membership-only cluster of many nodes whose views are
// tracked through their event subscriptions.
type scaleCluster struct {
	o     ScaleOptions
	fn    *faultnet.Network
	view  *view
	live  []bool // owned by the goroutine running the scenario
	nodes []*cluster.Node
	subs  []*cluster.Subscription
	wg    sync.WaitGroup // the subscription consumers
}

func newScaleCluster(o ScaleOptions) *scaleCluster {
	return &scaleCluster{
		o: o, fn: faultnet.New(1, o.Logger), view: newView(o.N),
		live: make([]bool, o.N), nodes: make([]*cluster.Node, o.N), subs: make([]*cluster.Subscription, o.N),
	}
}

// start starts the seeds, then the other nodes spread evenly over
// o.StartWithin, each in its own goroutine. It returns when every Start
// returned, with the time from the first Start to the last return.
func (c *scaleCluster) start(ctx context.Context) (time.Duration, error) {
	t0 := time.Now()
	seeds := min(scaleSeeds, c.o.N)
	var addrs []string
	for i := range seeds {
		if err := c.startNode(ctx, i, addrs); err != nil {
			return 0, err
		}
		addrs = append(addrs, c.nodes[i].Local().Address())
	}
	errs := make([]error, c.o.N)
	var wg sync.WaitGroup
	for i := seeds; i < c.o.N; i++ {
		at := t0.Add(c.o.startWithin() * time.Duration(i) / time.Duration(c.o.N))
		wg.Add(1)
		go func() {
			defer wg.Done()
			wait(ctx, time.Until(at))
			errs[i] = c.startNode(ctx, i, addrs)
		}()
	}
	wg.Wait()
	took := time.Since(t0)
	return took, errors.Join(errs...)
}

// startNode starts node i with seeds, subscribed to its events from before
// Start so that the view misses nothing.
func (c *scaleCluster) startNode(ctx context.Context, i int, seeds []string) error {
	cfg := cluster.Config{
		Name: nodeName(i), BindAddr: "127.0.0.1:0", Profile: c.o.Profile,
		Network: c.fn.Host(nodeName(i)), Logger: c.o.Logger, Seeds: seeds,
	}
	gossipTuning(&cfg, c.o.Timing, c.o.MemberlistDefaults)
	// Every member here shares 127.0.0.1, as members on their own hosts
	// would not: the per-address share of the gossip streams is the whole.
	cfg.Tuning.Membership.MaxStreamsPerIP = membership.DefaultMaxStreams
	n, err := cluster.New(cfg)
	if err != nil {
		return err
	}
	sub := n.Subscribe(16*c.o.N + 1024)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for ev := range sub.Events() {
			c.view.record(i, ev)
		}
	}()
	if err := n.Start(ctx); err != nil {
		sub.Close()
		return fmt.Errorf("bench: start %s: %w", nodeName(i), err)
	}
	c.nodes[i], c.subs[i], c.live[i] = n, sub, true
	return nil
}

// kill crashes node i: cut off, sockets closed, closed without leaving.
func (c *scaleCluster) kill(i int) {
	name := nodeName(i)
	_ = c.fn.Isolate(name)
	c.fn.Host(name).Kill()
	c.live[i] = false
	_ = c.nodes[i].Close()
}

// dropped returns the events the subscriptions of the live nodes dropped;
// the view is exact only while it is zero.
func (c *scaleCluster) dropped() uint64 {
	var d uint64
	for i, s := range c.subs {
		if s != nil && c.live[i] {
			d += s.Dropped()
		}
	}
	return d
}

// close closes every node, a few at a time, then the network, and waits for
// the subscription consumers.
func (c *scaleCluster) close() {
	work := make(chan *cluster.Node)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range work {
				_ = n.Close()
			}
		}()
	}
	for _, n := range c.nodes {
		if n != nil {
			work <- n
		}
	}
	close(work)
	wg.Wait()
	_ = c.fn.Close()
	for _, s := range c.subs {
		if s != nil {
			s.Close()
		}
	}
	c.wg.Wait()
}

// liveIndices returns the indices of the live nodes.
func (c *scaleCluster) liveIndices() []int {
	var out []int
	for i, l := range c.live {
		if l {
			out = append(out, i)
		}
	}
	return out
}

// pollEvery checks cond every d until it holds or ctx ends.
func pollEvery(ctx context.Context, d time.Duration, cond func() bool) error {
	t := time.NewTicker(d)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// describeMissing says how far the cluster is from every live node listing
// every live node alive, with one pair as the view and the node itself
// have it.
func (c *scaleCluster) describeMissing() string {
	k, o, m := c.view.missing(c.live)
	if k == 0 {
		return "none missing"
	}
	listed := "not listed"
	for _, mb := range c.nodes[o].Members() {
		if mb.Name == nodeName(m) {
			listed = mb.Status.String()
		}
	}
	return fmt.Sprintf("%d pairs not alive, e.g. %s about %s: %s in its member list; %d events dropped",
		k, nodeName(o), nodeName(m), listed, c.dropped())
}
