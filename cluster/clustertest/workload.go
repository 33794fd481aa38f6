package clustertest

import (
	"context"
	"fmt"
	mathrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/conclave-go/conclave/cluster"
)

// Workload describes concurrent clients for [Cluster.RunWorkload]. Zero
// fields take their defaults.
type Workload struct {
	// Clients is the number of concurrent clients, each with one operation
	// in flight. Client j sends through node j mod Len() while it runs,
	// through a random running node otherwise. Default 6.
	Clients int
	// Keys is how many keys are in use at a time. Default 6.
	Keys int
	// OpsPerKey is about how many operations a key gets before the
	// workload moves on to fresh keys, which keeps each key's history short
	// enough to check quickly. Default 60.
	OpsPerKey int
	// OpTimeout bounds one operation. A write that times out after it was
	// sent has an unknown outcome. Default 2s.
	OpTimeout time.Duration
}

func (w Workload) withDefaults() Workload {
	if w.Clients <= 0 {
		w.Clients = 6
	}
	if w.Keys <= 0 {
		w.Keys = 6
	}
	if w.OpsPerKey <= 0 {
		w.OpsPerKey = 60
	}
	if w.OpTimeout <= 0 {
		w.OpTimeout = 2 * time.Second
	}
	return w
}

// RunWorkload runs w's clients against the [KV] state machine and records
// every operation in h, until ctx ends and the operations in flight have
// returned. The mix: 45% reads (one in nine through the Raft log, the rest
// linearizable queries), 30% puts of unique values, 20% compare-and-swaps
// from the last value the client saw, 5% deletes. The clients' random
// choices are seeded from the cluster's seed.
func (c *Cluster) RunWorkload(ctx context.Context, h *History, w Workload) {
	w = w.withDefaults()
	var ops, values atomic.Uint64
	var wg sync.WaitGroup
	for j := range w.Clients {
		rc := &runClient{
			c: c, h: h, w: w, home: j % c.Len(), cl: h.NewClient(),
			rng:  mathrand.New(mathrand.NewPCG(uint64(c.Seed()), uint64(j)+1)),
			seen: make(map[string]string),
			ops:  &ops, values: &values,
		}
		wg.Go(func() { rc.run(ctx) })
	}
	wg.Wait()
}

// runClient is one client of a workload.
type runClient struct {
	c    *Cluster
	h    *History
	w    Workload
	home int
	cl   *Client
	rng  *mathrand.Rand
	seen map[string]string // last value seen per key, for CAS

	ops, values *atomic.Uint64 // shared by the workload's clients
}

func (rc *runClient) run(ctx context.Context) {
	for ctx.Err() == nil {
		node := rc.pickNode()
		if node == nil {
			return
		}
		rc.step(node)
	}
}

// pickNode returns the client's home node if it runs, else a random
// running node, else the home node's closed instance (its operations then
// fail at once).
func (rc *runClient) pickNode() *cluster.Node {
	c := rc.c
	if n, running := c.instance(c.slots[rc.home]); running {
		return n
	}
	start := rc.rng.IntN(c.Len())
	for k := range c.Len() {
		if n, running := c.instance(c.slots[(start+k)%c.Len()]); running {
			return n
		}
	}
	n, _ := c.instance(c.slots[rc.home])
	return n
}

// step runs one random operation.
func (rc *runClient) step(node *cluster.Node) {
	n := rc.ops.Add(1)
	gen := n / uint64(rc.w.OpsPerKey*rc.w.Keys)
	key := fmt.Sprintf("g%d-k%d", gen, rc.rng.IntN(rc.w.Keys))
	ctx, cancel := context.WithTimeout(context.Background(), rc.w.OpTimeout)
	defer cancel()
	req := KVRequest{Key: key}
	viaLog := false
	switch p := rc.rng.IntN(100); {
	case p < 45:
		req.Op, viaLog = OpGet, p < 5
	case p < 75:
		req.Op, req.Value = OpPut, rc.uniqueValue()
	case p < 95:
		req.Op, req.Expect, req.Value = OpCAS, rc.seen[key], rc.uniqueValue()
	default:
		req.Op = OpDelete
	}
	res, err := rc.cl.Do(ctx, node, req, viaLog)
	if err != nil {
		return
	}
	switch {
	case req.Op == OpPut || (req.Op == OpCAS && res.OK):
		rc.seen[key] = req.Value
	case req.Op == OpDelete:
		delete(rc.seen, key)
	case res.Found:
		rc.seen[key] = res.Value
	}
}

func (rc *runClient) uniqueValue() string {
	return fmt.Sprintf("v%d", rc.values.Add(1))
}
