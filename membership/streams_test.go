package membership

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/testkit"
)

// floodStreams opens n TCP connections from localIP to addr that send
// nothing, and returns once every dial has ended; they close at cleanup.
func floodStreams(t *testing.T, localIP, addr string, n int) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(localIP)}, Timeout: 5 * time.Second}
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if c, err := d.Dial("tcp", addr); err == nil {
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range conns {
			_ = c.Close()
		}
	})
}

// TestStreamFloodIsBounded: hundreds of silent connections to the gossip
// port from one address take at most that address's share of the streams;
// other nodes still join through it, and the silent ones are closed after
// the stream timeout.
func TestStreamFloodIsBounded(t *testing.T) {
	const total, perIP, flood = 32, 8, 300
	limits := func(_ int, cfg *Config) {
		cfg.Tuning.MaxStreams, cfg.Tuning.MaxStreamsPerIP = total, perIP
		cfg.Tuning.StreamTimeout = 2 * time.Second
	}
	nodes := startCluster(t, 1, limits)
	seed := nodes[0]
	floodStreams(t, "127.0.0.2", seed.Local().Address(), flood)
	testkit.WaitFor(t, 20*time.Second, func() bool {
		s := seed.Stats()
		return uint64(s.Streams)+s.StreamsRefused >= flood
	}, "every flooding connection is admitted or refused")
	s := seed.Stats()
	require.LessOrEqual(t, s.Streams, perIP, "one address holds at most its share")
	require.GreaterOrEqual(t, s.StreamsRefused, uint64(flood-perIP))
	require.Equal(t, total, s.MaxStreams)
	require.Equal(t, perIP, s.MaxStreamsPerIP)

	cfg := testConfig(t, "joiner")
	limits(1, &cfg)
	cfg.Seeds = []string{seed.Local().Address()}
	cfg.WaitForJoin = true
	joiner := startNode(t, cfg)
	testkit.WaitFor(t, 20*time.Second, func() bool { return allSee([]*Membership{seed, joiner}, 2) }, "a node joins through the flooded seed")

	testkit.WaitFor(t, 20*time.Second, func() bool { return seed.Stats().Streams < perIP },
		"silent streams are closed after the stream timeout")
}

func TestStreamLimitsValidated(t *testing.T) {
	cfg := testConfig(t, "n")
	cfg.Tuning.MaxStreams = -1
	_, err := New(cfg)
	require.ErrorContains(t, err, "Tuning.MaxStreams")

	cfg.Tuning.MaxStreams, cfg.Tuning.MaxStreamsPerIP = 4, 5
	_, err = New(cfg)
	require.ErrorContains(t, err, "Tuning.MaxStreamsPerIP")

	total, perIP := Tuning{}.streamLimits()
	require.Equal(t, DefaultMaxStreams, total)
	require.Equal(t, DefaultMaxStreams/2, perIP)
}
