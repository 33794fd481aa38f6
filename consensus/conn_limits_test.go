//go:build unix

package consensus

import (
	"fmt"
	"net"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/testkit"
)

// raiseFileLimit raises the soft limit on open files towards need, or skips
// the test when the hard limit is lower.
func raiseFileLimit(t *testing.T, need uint64) {
	t.Helper()
	var lim syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim))
	if lim.Cur >= need {
		return
	}
	if lim.Max < need {
		t.Skipf("needs %d open files, the hard limit is %d", need, lim.Max)
	}
	old := lim
	lim.Cur = need
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim))
	t.Cleanup(func() { _ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
}

// heapAndStacks is the memory a flood of connections would grow: heap in
// use plus goroutine stacks, after a collection.
func heapAndStacks() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}

// floodIdle opens n connections to addr that send their protocol byte (C and
// R alternately) and then nothing; they are closed at cleanup.
func floodIdle(t *testing.T, addr string, n int) {
	t.Helper()
	conns := make(chan net.Conn, n)
	var wg sync.WaitGroup
	work := make(chan int)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				c, err := net.DialTimeout("tcp", addr, 10*time.Second)
				if err != nil {
					continue
				}
				_, _ = c.Write([]byte{[]byte{byteRPC, byteRaft}[i%2]})
				conns <- c
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	close(conns)
	t.Cleanup(func() {
		for c := range conns {
			_ = c.Close()
		}
	})
}

// memoryBound is what 5,000 idle connections may add to the process (both
// their ends are in it): the nodes keep at most Tuning.MaxConns each, and a
// connection without a request holds no protocol buffers. Before the bound,
// each idle C connection held 64 KiB of buffers and each R one 260 KiB.
const memoryBound = 48 << 20

// Thousands of connections that send a protocol byte and then nothing leave
// the nodes serving writes, within a stated memory bound, and the refusals
// are counted.
func TestIdleConnectionFloodLeavesNodeServing(t *testing.T) {
	const total = 5000
	raiseFileLimit(t, 2*total+1024)
	c := newCluster(t, 3)
	ctx := testkit.Context(t, 60*time.Second)
	l, f := c.leader(), c.follower()
	c.apply(ctx, f, "set:before=1") // the follower's forwarding connection exists

	before := heapAndStacks()
	floodIdle(t, c.nodes[l].Addr(), total/2)
	floodIdle(t, c.nodes[f].Addr(), total/2)
	for _, i := range []int{l, f} {
		testkit.WaitFor(t, 30*time.Second, func() bool {
			s := c.nodes[i].ConnStats()
			return s.Pending == 0 && uint64(s.Open)+s.Refused+s.Evicted >= total/2
		}, "node %d routes every connection", i)
		s := c.nodes[i].ConnStats()
		require.LessOrEqual(t, s.Open, DefaultMaxConns)
		require.Positive(t, s.Refused+s.Evicted, "node %d", i)
	}
	grown := heapAndStacks() - min(before, heapAndStacks())
	t.Logf("memory grown by %d MiB with %d idle connections open (bound %d MiB); leader %+v",
		grown>>20, total, memoryBound>>20, c.nodes[l].ConnStats())
	require.Less(t, grown, uint64(memoryBound))

	for i := range c.nodes { // through the leader and forwarded
		c.apply(ctx, i, fmt.Sprintf("set:after%d=1", i))
	}
	testkit.WaitFor(t, 20*time.Second, func() bool {
		_, ok := c.fsms[f].get("after0")
		return ok
	}, "the follower replicates under the flood")
}

// With the shortest idle timeout allowed, connections that go quiet are
// closed, and the group keeps its leader and keeps taking writes from every
// node: live Raft and RPC traffic is never cut.
func TestIdleTimeoutKeepsHealthyGroupWorking(t *testing.T) {
	least := testConfig(t, "n0", newKV()).minConnIdle()
	c := newCluster(t, 3, func(_ int, cfg *Config) { cfg.Tuning.ConnIdleTimeout = least })
	ctx := testkit.Context(t, 60*time.Second)
	l, f := c.leader(), c.follower()
	term := c.nodes[l].Status().Term
	c.apply(ctx, f, "set:a=1")

	testkit.WaitFor(t, 30*time.Second, func() bool {
		return c.nodes[l].ConnStats().IdleClosed > 0
	}, "the follower's quiet forwarding connection is closed as idle")
	for i := range c.nodes {
		c.apply(ctx, i, fmt.Sprintf("set:b%d=1", i))
	}
	require.Equal(t, term, c.nodes[l].Status().Term, "no election")
	require.Equal(t, StateLeader, c.nodes[l].Status().State)
}

func TestConnLimitsValidated(t *testing.T) {
	cfg := testConfig(t, "n0", newKV())
	cfg.Tuning.ConnIdleTimeout = time.Second // below 4 x 500 ms
	cfg.Tuning.MaxConns = -1
	_, err := New(cfg)
	require.ErrorContains(t, err, "Tuning.ConnIdleTimeout")
	require.ErrorContains(t, err, "Tuning.MaxConns")

	cfg = testConfig(t, "n0", newKV())
	cfg.Tuning.MaxConns, cfg.Tuning.MaxConnsPerIP = 8, 9
	_, err = New(cfg)
	require.ErrorContains(t, err, "Tuning.MaxConnsPerIP")
}
