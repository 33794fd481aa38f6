package rpc

import (
	"context"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/testkit"
)

// dialRaw opens a plaintext connection that sends b, closed at cleanup.
func dialRaw(t *testing.T, addr string, b ...byte) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	if len(b) > 0 {
		_, err = c.Write(b)
		require.NoError(t, err)
	}
	return c
}

// readEOF reads c until it fails and returns that error.
func readEOF(t *testing.T, c net.Conn) error {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err := io.Copy(io.Discard, c)
	if err == nil {
		err = io.EOF
	}
	return err
}

func TestMuxClosesIdleConnections(t *testing.T) {
	m, subs := startMux(t, MuxConfig{IdleTimeout: 200 * time.Millisecond}, 'A')
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := subs['A'].Accept(); err == nil {
			accepted <- c
		}
	}()

	silent := dialRaw(t, m.Addr().String(), 'A') // protocol byte, then nothing
	require.ErrorIs(t, readEOF(t, silent), io.EOF, "a peer that sends no request is closed")
	select {
	case <-accepted:
		t.Fatal("a connection without a request was handed to the listener")
	default:
	}

	quiet := dialRaw(t, m.Addr().String(), 'A', 'x') // one request byte, then nothing
	var c net.Conn
	select {
	case c = <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("connection with a request not handed off")
	}
	defer c.Close()
	b, err := io.ReadAll(c) // the idle close reads as the end of the stream
	require.NoError(t, err)
	require.Equal(t, "x", string(b))
	require.ErrorIs(t, readEOF(t, quiet), io.EOF)

	st := m.Stats()
	require.EqualValues(t, 2, st.IdleClosed)
	require.Zero(t, st.Conns)
}

func TestMuxIdleTimeoutSparesLiveTraffic(t *testing.T) {
	const idle = 500 * time.Millisecond
	m, subs := startMux(t, MuxConfig{IdleTimeout: idle}, 'C')
	release := make(chan struct{})
	slow := func(ctx context.Context, method uint8, req []byte) ([]byte, error) {
		if method == 2 {
			<-release // a request served for longer than the idle timeout
		}
		return req, nil
	}
	srv := mustServer(t, subs['C'], slow, ServerConfig{})
	go func() { _ = srv.Serve() }()
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		return DialByte(ctx, nil, addr, 'C', nil)
	}
	cl := mustClient(t, dial, ClientConfig{ConnsPerAddr: 1})
	t.Cleanup(func() { require.NoError(t, cl.Close()) })
	ctx := testkit.Context(t, 30*time.Second)
	addr := m.Addr().String()

	// Steady traffic, each call well within the idle timeout of the last,
	// over several idle timeouts.
	start := time.Now()
	for time.Since(start) < 4*idle {
		_, err := cl.Call(ctx, addr, 1, []byte("hi"))
		require.NoError(t, err)
		time.Sleep(idle / 10) // traffic pacing, not synchronisation
	}
	require.Zero(t, m.Stats().IdleClosed, "a connection in use was closed as idle")

	done := make(chan error, 1)
	go func() {
		_, err := cl.Call(ctx, addr, 2, []byte("slow"))
		done <- err
	}()
	testkit.WaitFor(t, 10*time.Second, func() bool {
		return m.Stats().Conns == 1 // let the request sit beyond the idle timeout
	})
	deadline := time.Now().Add(3 * idle)
	for time.Now().Before(deadline) {
		require.Zero(t, m.Stats().IdleClosed, "a connection serving a request was closed as idle")
		time.Sleep(idle / 4)
	}
	close(release)
	require.NoError(t, <-done)
}

func TestMuxMaxConnsRefusesThenEvictsIdle(t *testing.T) {
	m, _ := startMux(t, MuxConfig{MaxConns: 4, MaxConnsPerIP: 4, IdleTimeout: time.Minute}, 'A')
	setEvictAfter := func(d time.Duration) {
		m.mu.Lock()
		m.evictAfter = d
		m.mu.Unlock()
	}
	setEvictAfter(time.Hour) // however slow the machine, the four stay fresh
	addr := m.Addr().String()
	for range 4 {
		dialRaw(t, addr, 'A')
	}
	testkit.WaitFor(t, 10*time.Second, func() bool { return m.Stats().Conns == 4 })

	// Every open connection is fresh: newcomers are refused, and logged once.
	for range 5 {
		c := dialRaw(t, addr, 'A')
		require.ErrorIs(t, readEOF(t, c), io.EOF)
	}
	st := m.Stats()
	require.EqualValues(t, 5, st.Refused)
	require.Equal(t, 4, st.Conns)
	require.Equal(t, 1, m.logs.count("rpc: mux refused connections"), "refusals are logged at most once per interval")

	// Once they have been idle for long enough, a newcomer displaces one.
	setEvictAfter(evictMinIdle)
	testkit.WaitFor(t, 10*time.Second, func() bool {
		dialRaw(t, addr, 'A')
		return m.Stats().Evicted > 0
	})
	require.LessOrEqual(t, m.Stats().Conns, 4)
	testkit.WaitFor(t, 10*time.Second, func() bool {
		return m.logs.contains("rpc: mux closed idle connections to admit new ones")
	}, "the eviction logged")
}

func TestMuxConfigRejectsBadLimits(t *testing.T) {
	for _, cfg := range []MuxConfig{{IdleTimeout: -1}, {MaxConns: -1}, {MaxConns: maxConnsLimit + 1}} {
		require.Error(t, cfg.Validate())
	}
	d := DefaultMuxConfig()
	require.Equal(t, DefaultIdleTimeout, d.IdleTimeout)
	require.Equal(t, DefaultMaxConns, d.MaxConns)
}

// TestMuxManyIdleConnectionsStayBounded opens thousands of connections that
// send a protocol byte and then nothing: the mux keeps at most MaxConns of
// them, and a real request still gets through.
func TestMuxManyIdleConnectionsStayBounded(t *testing.T) {
	const total, limit = 2000, 256
	m, subs := startMux(t, MuxConfig{MaxConns: limit, IdleTimeout: time.Minute}, 'A', 'B')
	serveGreeting(t, subs['A'], "A:")
	serveGreeting(t, subs['B'], "B:")
	addr := m.Addr().String()
	var wg sync.WaitGroup
	for i := range total {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
			_, _ = c.Write([]byte{"AB"[i%2]})
		}()
	}
	wg.Wait()
	testkit.WaitFor(t, 30*time.Second, func() bool {
		st := m.Stats()
		return st.Pending == 0 && uint64(st.Conns)+st.Refused+st.Evicted >= total
	})
	require.LessOrEqual(t, m.Stats().Conns, limit)
}

// dialFrom opens a plaintext connection from the given local IP that
// sends the protocol byte 'A'.
func dialFrom(t *testing.T, localIP, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(localIP)}}
	c, err := d.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	_, err = c.Write([]byte{'A'})
	require.NoError(t, err)
	return c
}

func TestMuxBoundsConnectionsPerAddress(t *testing.T) {
	m, _ := startMux(t, MuxConfig{MaxConns: 16, MaxConnsPerIP: 3, IdleTimeout: time.Minute}, 'A')
	m.mu.Lock()
	m.evictAfter = time.Hour // however slow the machine, the connections stay fresh
	m.mu.Unlock()
	addr := m.Addr().String()
	conns := func() int { return m.Stats().Conns }

	var first net.Conn
	for i := range 3 {
		c := dialFrom(t, "127.0.0.1", addr)
		if i == 0 {
			first = c
		}
	}
	testkit.WaitFor(t, 10*time.Second, func() bool { return conns() == 3 }, "three connections from 127.0.0.1 are admitted")

	fourth := dialFrom(t, "127.0.0.1", addr)
	require.ErrorIs(t, readEOF(t, fourth), io.EOF, "a fourth connection from one address is closed")
	require.Equal(t, uint64(1), m.Stats().Refused)
	require.Equal(t, 3, m.Stats().MaxConnsPerIP)
	require.True(t, m.logs.contains("too many open connections from one address"))

	dialFrom(t, "127.0.0.2", addr)
	testkit.WaitFor(t, 10*time.Second, func() bool { return conns() == 4 }, "another address has its own slots")

	require.NoError(t, first.Close())
	testkit.WaitFor(t, 10*time.Second, func() bool { return conns() == 3 }, "the closed connection is forgotten")
	dialFrom(t, "127.0.0.1", addr)
	testkit.WaitFor(t, 10*time.Second, func() bool { return conns() == 4 }, "a closed connection frees its address's slot")
	require.Equal(t, uint64(1), m.Stats().Refused)

	// Once idle long enough, a newcomer from the full address displaces
	// one of that address's own connections, not another address's.
	m.mu.Lock()
	m.evictAfter = evictMinIdle
	m.mu.Unlock()
	testkit.WaitFor(t, 10*time.Second, func() bool {
		dialFrom(t, "127.0.0.1", addr)
		return m.Stats().Evicted > 0
	})
	m.mu.Lock()
	defer m.mu.Unlock()
	require.Equal(t, 3, m.perIP[netip.MustParseAddr("127.0.0.1")])
	require.Equal(t, 1, m.perIP[netip.MustParseAddr("127.0.0.2")], "another address's connection is never displaced")
}

func TestMuxConfigRejectsPerAddressAboveTotal(t *testing.T) {
	require.Error(t, MuxConfig{MaxConns: 4, MaxConnsPerIP: 5}.Validate())
	require.Error(t, MuxConfig{MaxConnsPerIP: -1}.Validate())
	require.NoError(t, MuxConfig{MaxConnsPerIP: DefaultMaxConns}.Validate())
	require.Equal(t, DefaultMaxConns/2, MuxConfig{}.withDefaults().MaxConnsPerIP)
}
