package bench

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/conclave-go/conclave/cluster"
)

// FootprintResult is the memory and goroutine cost of idle nodes.
type FootprintResult struct {
	Kind       string // "members" or "3 servers + clients"
	N          int
	HeapBytes  float64 // live heap per node after GC
	Goroutines float64 // goroutines per node
}

// heapNow returns the live heap after collections, and the goroutine
// count. It collects until two readings 100 ms apart agree within 1%, so
// that memory still being released by earlier work (connections closing,
// goroutines exiting) is not counted.
func heapNow() (uint64, int) {
	read := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	prev := read()
	for range 20 {
		time.Sleep(100 * time.Millisecond)
		cur := read()
		if max(cur, prev)-min(cur, prev) <= prev/100 {
			return cur, runtime.NumGoroutine()
		}
		prev = cur
	}
	return prev, runtime.NumGoroutine()
}

// Footprint starts n nodes on the real loopback network with the LAN
// profile, lets them idle for settle, and measures the heap and goroutines
// they added, per node. With servers 0 every node is membership-only;
// otherwise the first servers nodes are servers (bolt on disk under dir)
// and the rest clients.
func Footprint(ctx context.Context, dir string, n, servers int, settle time.Duration) (FootprintResult, error) {
	res := FootprintResult{Kind: "members", N: n}
	if servers > 0 {
		res.Kind = fmt.Sprintf("%d servers + clients", servers)
	}
	h0, g0 := heapNow()
	var closeAll func()
	if servers == 0 {
		m, err := startMembersReal(ctx, n)
		if err != nil {
			return res, err
		}
		closeAll = m.close
	} else {
		c, err := StartConclave(ctx, ConclaveOptions{
			Dir: dir, Servers: servers, Clients: n - servers, Profile: cluster.ProfileLAN,
		})
		if err != nil {
			return res, err
		}
		closeAll = func() { _ = c.Close() }
	}
	wait(ctx, settle)
	h1, g1 := heapNow()
	closeAll()
	res.HeapBytes = (float64(h1) - float64(h0)) / float64(n)
	res.Goroutines = float64(g1-g0) / float64(n)
	return res, ctx.Err()
}

// startMembersReal starts a membership-only cluster on the operating
// system's network.
func startMembersReal(ctx context.Context, n int) (*realMembers, error) {
	m := &realMembers{}
	for i := range n {
		cfg := cluster.Config{Name: nodeName(i), BindAddr: "127.0.0.1:0"}
		if i > 0 {
			cfg.Seeds = []string{m.nodes[0].Local().Address()}
		}
		node, err := cluster.New(cfg)
		if err == nil {
			err = node.Start(ctx)
		}
		if err != nil {
			m.close()
			return nil, err
		}
		m.nodes = append(m.nodes, node)
	}
	err := poll(ctx, func() bool {
		for _, node := range m.nodes {
			if len(node.Members()) != n {
				return false
			}
		}
		return true
	})
	if err != nil {
		m.close()
		return nil, err
	}
	return m, nil
}

type realMembers struct{ nodes []*cluster.Node }

func (m *realMembers) close() {
	for _, n := range m.nodes {
		_ = n.Close()
	}
}
