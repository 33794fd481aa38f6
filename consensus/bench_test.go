package consensus

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkApply measures Apply on a 3-server group on loopback with bolt on
// disk: on the leader and through a follower (one forwarding hop), with 1
// and 64 concurrent callers. ns/op is wall time per write across all
// callers; writes/s is the matching throughput and µs/write the mean latency
// one caller sees.
func BenchmarkApply(b *testing.B) {
	c := newCluster(b, 3)
	cmd := []byte("set:k=" + string(make([]byte, 100)))
	for _, target := range []string{"leader", "follower"} {
		for _, callers := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/callers=%d", target, callers), func(b *testing.B) {
				node := c.nodes[c.waitReadyLeader()]
				if target == "follower" {
					node = c.nodes[c.follower()]
				}
				benchApply(b, node, cmd, callers)
			})
		}
	}
}

func benchApply(b *testing.B, node *Node, cmd []byte, callers int) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if _, err := node.Apply(ctx, cmd); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d writes failed", n, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "writes/s")
	b.ReportMetric(float64(elapsed.Microseconds())*float64(callers)/float64(b.N), "µs/write")
}
