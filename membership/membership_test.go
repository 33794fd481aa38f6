package membership

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/conclave-go/conclave/internal/testkit"
)

func TestTwoNodesJoin(t *testing.T) {
	a := startNode(t, testConfig(t, "a"))
	cfg := testConfig(t, "b")
	cfg.Seeds = []string{a.Local().Address()}
	cfg.WaitForJoin = true
	cfg.Role = RoleServer
	cfg.RPCAddr = "127.0.0.1:7950"
	cfg.Tags = map[string]string{"zone": "z1"}
	b := startNode(t, cfg)
	nodes := []*Membership{a, b}
	testkit.WaitFor(t, 10*time.Second, func() bool { return allSee(nodes, 2) }, "two alive members on both")

	require.Equal(t, StatusAlive, a.Local().Status)
	var seen Member
	for _, m := range a.Members() {
		if m.Name == "b" {
			seen = m
		}
	}
	require.Equal(t, RoleServer, seen.Role)
	require.Equal(t, "127.0.0.1:7950", seen.RPCAddr)
	require.Equal(t, ProtocolVersion, seen.Protocol)
	require.Equal(t, "z1", seen.Tags["zone"])
	require.Equal(t, b.Local().Address(), seen.Address())
}

// TestEventsInOrder drives one member through leave and another through
// failure, with short reap timeouts, and checks the events each observer
// sees for them, in order.
func TestEventsInOrder(t *testing.T) {
	short := func(_ int, cfg *Config) {
		cfg.Tuning.ReconnectTimeout = 2 * time.Second
		cfg.Tuning.TombstoneTimeout = 2 * time.Second
		cfg.Tuning.ReapInterval = 100 * time.Millisecond
	}
	observerCfg := testConfig(t, "observer")
	short(0, &observerCfg)
	observer, err := New(observerCfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = observer.Close() })
	rec := record(observer.Subscribe(0))
	require.NoError(t, observer.Start(t.Context()))

	var nodes []*Membership
	for _, name := range []string{"leaver", "crasher", "witness"} {
		cfg := testConfig(t, name)
		cfg.Seeds = []string{observer.Local().Address()}
		cfg.WaitForJoin = true
		short(0, &cfg)
		nodes = append(nodes, startNode(t, cfg))
	}
	leaver, crasher, witness := nodes[0], nodes[1], nodes[2]
	all := []*Membership{observer, leaver, crasher, witness}
	testkit.WaitFor(t, 10*time.Second, func() bool { return allSee(all, 4) }, "4 alive everywhere")
	witnessRec := record(witness.Subscribe(0))

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	require.NoError(t, leaver.Leave(ctx))
	require.NoError(t, crasher.Close())

	for _, r := range []*recorder{rec, witnessRec} {
		testkit.WaitFor(t, 20*time.Second, func() bool {
			return r.has(EventReap, "leaver") && r.has(EventReap, "crasher")
		}, "leave, failure and both reaps observed")
	}
	require.Equal(t, []EventType{EventJoin, EventLeave, EventReap}, rec.of("leaver"))
	require.Equal(t, []EventType{EventJoin, EventFailed, EventReap}, rec.of("crasher"))
	require.Equal(t, []EventType{EventJoin}, rec.of("observer"), "the local node's own join")
	require.Equal(t, []EventType{EventLeave, EventReap}, witnessRec.of("leaver"))
	require.Equal(t, []EventType{EventFailed, EventReap}, witnessRec.of("crasher"))
	require.Equal(t, 2, countStatus(observer, StatusAlive))
	require.Len(t, observer.Members(), 2, "reaped members are gone")
}

func TestLeaveAndFailStatuses(t *testing.T) {
	nodes := startCluster(t, 3, nil)
	testkit.WaitFor(t, 10*time.Second, func() bool { return allSee(nodes, 3) }, "3 alive")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	require.NoError(t, nodes[1].Leave(ctx))
	testkit.WaitFor(t, 10*time.Second, func() bool { return statusOfMember(nodes[0], "node-1") == StatusLeft }, "node-1 left")
	require.NoError(t, nodes[2].Close())
	testkit.WaitFor(t, 15*time.Second, func() bool { return statusOfMember(nodes[0], "node-2") == StatusFailed }, "node-2 failed")
	require.Equal(t, StatusLeft, statusOfMember(nodes[0], "node-1"), "a graceful leave is not a failure")
}

func TestSetTagsUpdatesEveryNode(t *testing.T) {
	nodes := startCluster(t, 3, nil)
	testkit.WaitFor(t, 10*time.Second, func() bool { return allSee(nodes, 3) }, "3 alive")
	recs := make([]*recorder, len(nodes))
	for i, n := range nodes {
		recs[i] = record(n.Subscribe(0))
	}
	require.NoError(t, nodes[2].SetTags(map[string]string{"version": "2"}))
	for i, r := range recs {
		testkit.WaitFor(t, 10*time.Second, func() bool {
			ev, ok := r.last("node-2")
			return ok && ev.Type == EventUpdate && ev.Member.Tags["version"] == "2"
		}, "node %d sees the update", i)
		require.Equal(t, []EventType{EventUpdate}, r.of("node-2"))
	}
	require.Equal(t, "2", nodes[2].Local().Tags["version"])
}

func TestTagRules(t *testing.T) {
	cfg := testConfig(t, "a")
	cfg.SystemTags = map[string]string{"conclave:expect": "3"}
	a := startNode(t, cfg)

	err := a.SetTags(map[string]string{"conclave:x": "1"})
	require.ErrorIs(t, err, ErrReservedTag)
	err = a.SetTags(map[string]string{"big": strings.Repeat("x", MetaMaxSize)})
	require.ErrorIs(t, err, ErrMetaTooLarge)
	require.Error(t, a.SetSystemTags(map[string]string{"plain": "1"}))

	require.NoError(t, a.SetTags(map[string]string{"zone": "a"}))
	require.NoError(t, a.SetSystemTags(map[string]string{"conclave:expect": "5"}))
	tags := a.Local().Tags
	require.Equal(t, "a", tags["zone"])
	require.Equal(t, "5", tags["conclave:expect"])
	require.Len(t, tags, 2, "the rejected tag sets changed nothing")
}

func TestSetTagsBeforeStartIsAnnounced(t *testing.T) {
	a := startNode(t, testConfig(t, "a"))
	cfg := testConfig(t, "b")
	cfg.Seeds = []string{a.Local().Address()}
	b, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	require.NoError(t, b.SetTags(map[string]string{"early": "yes"}))
	require.NoError(t, b.Start(t.Context()))
	testkit.WaitFor(t, 10*time.Second, func() bool {
		for _, m := range a.Members() {
			if m.Name == "b" && m.Tags["early"] == "yes" {
				return true
			}
		}
		return false
	}, "a sees b's early tag")
}

func TestLifecycleErrors(t *testing.T) {
	m, err := New(testConfig(t, "a"))
	require.NoError(t, err)
	ctx := t.Context()
	_, err = m.Join(ctx, []string{"127.0.0.1:1"})
	require.ErrorIs(t, err, ErrNotStarted)
	require.ErrorIs(t, m.Leave(ctx), ErrNotStarted)
	require.NoError(t, m.Start(ctx))
	require.ErrorIs(t, m.Start(ctx), ErrAlreadyStarted)
	_, err = m.Join(ctx, []string{"not a seed/"})
	require.Error(t, err)
	_, err = m.Join(ctx, []string{m.Local().Address()})
	require.ErrorIs(t, err, ErrJoinFailed, "joining only oneself joins nothing")
	require.NoError(t, m.Close())
	require.NoError(t, m.Close())
	require.ErrorIs(t, m.Start(ctx), ErrClosed)
	require.ErrorIs(t, m.Leave(ctx), ErrClosed)
	require.ErrorIs(t, m.SetTags(map[string]string{"a": "b"}), ErrClosed)
	_, err = m.Join(ctx, []string{"127.0.0.1:1"})
	require.ErrorIs(t, err, ErrClosed)
	sub := m.Subscribe(1)
	_, ok := <-sub.Events()
	require.False(t, ok)
}

func TestCloseLeaksNothing(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	nodes := startCluster(t, 3, nil)
	testkit.WaitFor(t, 10*time.Second, func() bool { return allSee(nodes, 3) }, "3 alive")
	subs := []*Subscription{nodes[0].Subscribe(4), nodes[1].Subscribe(4)} // never read
	require.NoError(t, nodes[1].SetTags(map[string]string{"x": "y"}))
	addrs := make([]string, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		addrs[i] = n.Local().Address()
		for range 2 {
			wg.Go(func() { _ = n.Close() }) // concurrent and repeated Close
		}
	}
	wg.Wait()
	for _, s := range subs {
		_, ok := <-s.Events()
		require.False(t, ok, "Close closes subscriptions")
	}
	require.NoError(t, findLeaks(10*time.Second, ignore))
	for _, addr := range addrs {
		ln, err := net.Listen("tcp", addr)
		require.NoError(t, err, "tcp port %s released", addr)
		require.NoError(t, ln.Close())
		pc, err := net.ListenPacket("udp", addr)
		require.NoError(t, err, "udp port %s released", addr)
		require.NoError(t, pc.Close())
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestStartWithoutReachableSeedRetriesInBackground(t *testing.T) {
	port := freePort(t)
	seed := "127.0.0.1:" + strconv.Itoa(port)
	cfg := testConfig(t, "early")
	cfg.Seeds = []string{seed}
	early := startNode(t, cfg) // returns although nobody answers
	require.Equal(t, 1, countStatus(early, StatusAlive))

	late := testConfig(t, "late")
	late.BindAddr = seed
	lateNode := startNode(t, late)
	nodes := []*Membership{early, lateNode}
	testkit.WaitFor(t, 15*time.Second, func() bool { return allSee(nodes, 2) }, "the background rejoin reaches the late seed")
}

func TestWaitForJoinHonoursContext(t *testing.T) {
	cfg := testConfig(t, "lonely")
	cfg.Seeds = []string{"127.0.0.1:" + strconv.Itoa(freePort(t))}
	cfg.WaitForJoin = true
	m, err := New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	start := time.Now()
	err = m.Start(ctx)
	require.ErrorIs(t, err, ErrJoinFailed)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 10*time.Second)
	require.ErrorIs(t, m.Leave(t.Context()), ErrClosed, "a failed Start closes the node")
}

func TestSeedsByNameAreResolvedOnEveryAttempt(t *testing.T) {
	a := startNode(t, testConfig(t, "a"))
	cfg := testConfig(t, "b")
	cfg.Seeds = []string{"seeds.test:" + strconv.Itoa(int(a.Local().Port))}
	b, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	var (
		mu      sync.Mutex
		lookups int
	)
	b.lookup = func(_ context.Context, host string) ([]string, error) {
		mu.Lock()
		defer mu.Unlock()
		require.Equal(t, "seeds.test", host)
		lookups++
		if lookups < 3 {
			return nil, errors.New("no such host yet")
		}
		return []string{"127.0.0.1"}, nil
	}
	require.NoError(t, b.Start(t.Context()))
	testkit.WaitFor(t, 15*time.Second, func() bool { return allSee([]*Membership{a, b}, 2) }, "b joins once the name resolves")
	mu.Lock()
	defer mu.Unlock()
	require.GreaterOrEqual(t, lookups, 3)
}

func TestSeedLocalhostName(t *testing.T) {
	a := startNode(t, testConfig(t, "a"))
	cfg := testConfig(t, "b")
	cfg.Seeds = []string{"localhost:" + strconv.Itoa(int(a.Local().Port))}
	cfg.WaitForJoin = true
	b := startNode(t, cfg)
	testkit.WaitFor(t, 10*time.Second, func() bool { return allSee([]*Membership{a, b}, 2) }, "joined through localhost")
}

func TestExplicitJoin(t *testing.T) {
	a := startNode(t, testConfig(t, "a"))
	b := startNode(t, testConfig(t, "b"))
	n, err := b.Join(t.Context(), []string{a.Local().Address(), "127.0.0.1:" + strconv.Itoa(freePort(t))})
	require.NoError(t, err, "one answering address is enough")
	require.Equal(t, 1, n)
	testkit.WaitFor(t, 10*time.Second, func() bool { return allSee([]*Membership{a, b}, 2) }, "joined")

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = b.Join(ctx, []string{a.Local().Address()})
	require.ErrorIs(t, err, context.Canceled)
}

func TestStartFailureClosesNode(t *testing.T) {
	busy := startNode(t, testConfig(t, "busy"))
	cfg := testConfig(t, "clash")
	cfg.BindAddr = busy.Local().Address() // port taken
	m, err := New(cfg)
	require.NoError(t, err)
	sub := m.Subscribe(1)
	require.Error(t, m.Start(t.Context()))
	_, ok := <-sub.Events()
	require.False(t, ok, "a failed Start closes the node and its subscriptions")
	require.ErrorIs(t, m.Start(t.Context()), ErrClosed)
}

func TestSeedListNamingOnlySelf(t *testing.T) {
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	cfg := testConfig(t, "first")
	cfg.BindAddr = addr
	cfg.Seeds = []string{addr, "localhost:" + strings.Split(addr, ":")[1]}
	m := startNode(t, cfg)
	require.Equal(t, 1, countStatus(m, StatusAlive), "the first node starts alone")
}
