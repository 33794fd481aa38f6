package membership

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/netx"
	"github.com/conclave-go/conclave/internal/testkit"
)

// TestMeasureMessages prints the figures of docs/PERFORMANCE.md for user
// events and queries, on the LAN profile over loopback:
// CONCLAVE_MEMBERSHIP_MEASURE=1 go test -run TestMeasureMessages -v ./membership/
// (add CONCLAVE_MEMBERSHIP_SCALE=1 for N = 100).
func TestMeasureMessages(t *testing.T) {
	if os.Getenv("CONCLAVE_MEMBERSHIP_MEASURE") == "" {
		t.Skip("set CONCLAVE_MEMBERSHIP_MEASURE=1 to run")
	}
	sizes := []int{10, 50}
	if os.Getenv("CONCLAVE_MEMBERSHIP_SCALE") != "" {
		sizes = append(sizes, 100)
	}
	for _, n := range sizes {
		t.Run(fmt.Sprintf("N=%d", n), func(t *testing.T) {
			var bytes atomic.Uint64
			nodes := startCluster(t, n, func(_ int, cfg *Config) {
				cfg.Profile = LAN
				cfg.Network = countingNet{netx.OrReal(nil), &bytes}
			})
			testkit.WaitFor(t, 60*time.Second, func() bool { return allSee(nodes, n) }, "formed")
			t.Logf("event dissemination to all %d: %s", n, quantiles(measureDissemination(t, nodes, 40)))
			if n == 10 || n == 100 {
				t.Logf("query round trip, all %d answering: %s", n, quantiles(measureQueries(t, nodes, 40)))
			}
			if n == 10 {
				const window = 10 * time.Second
				idle := measureBytes(&bytes, window, nil)
				busy := measureBytes(&bytes, window, func(i int) {
					require.NoError(t, nodes[i%n].Broadcast("tick", make([]byte, 64)))
				})
				t.Logf("gossip bytes/s per member: idle %.0f, 10 events/s of 64 B %.0f",
					float64(idle)/window.Seconds()/float64(n), float64(busy)/window.Seconds()/float64(n))
			}
		})
	}
}

// measureDissemination broadcasts events from random members, one at a
// time, and returns for each the time until every subscription delivered it.
func measureDissemination(t *testing.T, nodes []*Membership, events int) []time.Duration {
	var (
		mu      sync.Mutex
		arrived = map[string]int{}
		done    = make(chan string, events)
	)
	for _, m := range nodes {
		sub := m.SubscribeUserEvents(0)
		t.Cleanup(sub.Close)
		go func() {
			for ev := range sub.Events() {
				mu.Lock()
				arrived[string(ev.Payload)]++
				if arrived[string(ev.Payload)] == len(nodes) {
					done <- string(ev.Payload)
				}
				mu.Unlock()
			}
		}()
	}
	var out []time.Duration
	for i := range events {
		start := time.Now()
		require.NoError(t, nodes[i%len(nodes)].Broadcast("measure", []byte(strconv.Itoa(i))))
		select {
		case <-done:
			out = append(out, time.Since(start))
		case <-time.After(30 * time.Second):
			t.Fatalf("event %d did not reach every member", i)
		}
	}
	return out
}

func measureQueries(t *testing.T, nodes []*Membership, queries int) []time.Duration {
	for _, m := range nodes {
		m.HandleQuery("measure", func(context.Context, []byte) ([]byte, error) { return nil, nil })
	}
	var (
		out        []time.Duration
		incomplete int
	)
	for range queries {
		start := time.Now()
		r, err := nodes[0].Query(t.Context(), "measure", nil, QueryParams{Timeout: 30 * time.Second})
		require.NoError(t, err)
		<-r.Done()
		if len(r.Missing()) > 0 {
			incomplete++ // counted as taking the whole timeout
		}
		out = append(out, time.Since(start))
	}
	if incomplete > 0 {
		t.Logf("%d of %d queries missed some member within their timeout", incomplete, queries)
	}
	return out
}

// measureBytes returns the bytes sent during window, calling send ten times
// a second when it is not nil.
func measureBytes(bytes *atomic.Uint64, window time.Duration, send func(i int)) uint64 {
	start := bytes.Load()
	end := time.Now().Add(window)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; time.Now().Before(end); i++ {
		<-tick.C
		if send != nil {
			send(i)
		}
	}
	return bytes.Load() - start
}

func quantiles(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))].Round(time.Millisecond) }
	return fmt.Sprintf("p50 %v, p99 %v (%d samples)", q(0.5), q(0.99), len(s))
}

// countingNet counts every byte sent over the network it wraps.
type countingNet struct {
	netx.Network
	n *atomic.Uint64
}

func (c countingNet) ListenPacket(network, address string) (net.PacketConn, error) {
	pc, err := c.Network.ListenPacket(network, address)
	if err != nil {
		return nil, err
	}
	return countingPacketConn{pc, c.n}, nil
}

func (c countingNet) Listen(network, address string) (net.Listener, error) {
	l, err := c.Network.Listen(network, address)
	if err != nil {
		return nil, err
	}
	return countingListener{l, c.n}, nil
}

func (c countingNet) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	conn, err := c.Network.Dial(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return countingConn{conn, c.n}, nil
}

type countingPacketConn struct {
	net.PacketConn
	n *atomic.Uint64
}

func (p countingPacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	p.n.Add(uint64(len(b)))
	return p.PacketConn.WriteTo(b, addr)
}

func (p countingPacketConn) SetReadBuffer(size int) error {
	if rb, ok := p.PacketConn.(interface{ SetReadBuffer(int) error }); ok {
		return rb.SetReadBuffer(size)
	}
	return nil
}

type countingListener struct {
	net.Listener
	n *atomic.Uint64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{c, l.n}, nil
}

type countingConn struct {
	net.Conn
	n *atomic.Uint64
}

func (c countingConn) Write(b []byte) (int, error) {
	c.n.Add(uint64(len(b)))
	return c.Conn.Write(b)
}
