package membership

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/faultnet"
	"github.com/conclave-go/conclave/internal/testkit"
)

// userRecorder collects a user-event subscription's events.
type userRecorder struct {
	mu     sync.Mutex
	events []UserEvent
}

func recordUser(sub *UserEventSubscription) *userRecorder {
	r := &userRecorder{}
	go func() {
		for ev := range sub.Events() {
			r.mu.Lock()
			r.events = append(r.events, ev)
			r.mu.Unlock()
		}
	}()
	return r
}

func (r *userRecorder) snapshot() []UserEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]UserEvent(nil), r.events...)
}

// coalescedTotal returns the number of broadcast events the recorded ones
// stand for.
func (r *userRecorder) coalescedTotal() int {
	n := 0
	for _, ev := range r.snapshot() {
		n += ev.Coalesced
	}
	return n
}

// gossipDrained reports whether no node has a message left to gossip.
func gossipDrained(nodes []*Membership) bool {
	for _, n := range nodes {
		if n.msgs.broadcasts.NumQueued() != 0 {
			return false
		}
	}
	return true
}

// TestBroadcastUnderLoss broadcasts from several members of ten under 10%
// packet loss and checks that every subscription gets every event exactly
// once, after gossip has stopped retransmitting them.
func TestBroadcastUnderLoss(t *testing.T) {
	fn := faultnet.New(17, testkit.Logger(t))
	defer fn.Close()
	nodes := faultCluster(t, fn, 10, nil)
	recs := make([]*userRecorder, len(nodes))
	for i, n := range nodes {
		sub := n.SubscribeUserEvents(0)
		t.Cleanup(sub.Close)
		recs[i] = recordUser(sub)
	}
	require.NoError(t, fn.SetLoss(0.1))
	const events = 20
	for i := range events {
		require.NoError(t, nodes[i%len(nodes)].Broadcast("deploy", []byte(strconv.Itoa(i))))
	}
	testkit.WaitFor(t, 30*time.Second, func() bool {
		for _, r := range recs {
			if len(r.snapshot()) < events {
				return false
			}
		}
		return true
	}, "every member receives %d events", events)
	testkit.WaitFor(t, 30*time.Second, func() bool { return gossipDrained(nodes) }, "gossip queues drained")
	for i, r := range recs {
		seen := map[string]int{}
		for _, ev := range r.snapshot() {
			require.Equal(t, "deploy", ev.Name)
			require.Equal(t, 1, ev.Coalesced)
			seen[string(ev.Payload)]++
		}
		require.Len(t, seen, events, "node %d", i)
		for p, c := range seen {
			require.Equal(t, 1, c, "node %d got event %s %d times", i, p, c)
		}
	}
}

// TestBroadcastCoalescesBurst sends a burst of 100 events of one name and
// checks that each member delivers far fewer, standing for all 100, the
// latest among them.
func TestBroadcastCoalescesBurst(t *testing.T) {
	nodes := startCluster(t, 3, func(_ int, cfg *Config) {
		cfg.Tuning.EventCoalescePeriod = time.Second
		cfg.Tuning.EventQuietPeriod = 200 * time.Millisecond
	})
	testkit.WaitFor(t, 10*time.Second, func() bool { return allSee(nodes, 3) }, "formed")
	recs := make([]*userRecorder, len(nodes))
	for i, n := range nodes {
		sub := n.SubscribeUserEvents(0)
		t.Cleanup(sub.Close)
		recs[i] = recordUser(sub)
	}
	const burst = 100
	for i := range burst {
		require.NoError(t, nodes[0].Broadcast("config", []byte(strconv.Itoa(i))))
	}
	for i, r := range recs {
		testkit.WaitFor(t, 20*time.Second, func() bool { return r.coalescedTotal() == burst }, "node %d sees all %d (has %d in %d events)", i, burst, r.coalescedTotal(), len(r.snapshot()))
		got := r.snapshot()
		require.Less(t, len(got), burst/10, "node %d delivered %d events", i, len(got))
		var last UserEvent
		for _, ev := range got {
			if ev.LTime > last.LTime {
				last = ev
			}
		}
		require.Equal(t, strconv.Itoa(burst-1), string(last.Payload))
	}
}

// TestBroadcastRefusesOversize checks the size limit and the lifecycle
// errors.
func TestBroadcastRefusesOversize(t *testing.T) {
	m, err := New(testConfig(t, "solo"))
	require.NoError(t, err)
	require.ErrorIs(t, m.Broadcast("x", nil), ErrNotStarted)
	require.NoError(t, m.Start(testkit.Context(t, 10*time.Second)))
	defer m.Close()
	require.ErrorIs(t, m.Broadcast("x", make([]byte, MaxMessageSize)), ErrTooLarge)
	require.ErrorIs(t, m.Broadcast("", nil), ErrInvalidArgument)
	require.NoError(t, m.Broadcast("x", make([]byte, MaxMessageSize-32)))
	require.NoError(t, m.Close())
	require.ErrorIs(t, m.Broadcast("x", nil), ErrClosed)
}

func TestDecodeMsgRejectsMalformed(t *testing.T) {
	good := eventMsg{LTime: 3, Name: "a", Payload: []byte("p")}.encode()
	_, err := decodeMsg(good)
	require.NoError(t, err)
	for name, b := range map[string][]byte{
		"empty":    nil,
		"kind":     {9},
		"trailing": append(good[:len(good):len(good)], 0),
		"short":    good[:len(good)-1],
		"noname":   eventMsg{LTime: 1}.encode(),
		"flags":    responseMsg{ID: 1, From: "a", Flags: 0x80}.encode(),
		"relay":    relayMsg{Target: "a", Inner: good}.encode(),
		"timeout":  queryMsg{ID: 1, Origin: "a", Name: "q"}.encode(),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := decodeMsg(b)
			require.ErrorIs(t, err, errBadMessage, fmt.Sprintf("%x", b))
		})
	}
}

func FuzzDecodeMsg(f *testing.F) {
	f.Add(eventMsg{LTime: 3, Name: "a", Payload: []byte("p")}.encode())
	f.Add(queryMsg{ID: 1, Origin: "a", Name: "q", Timeout: time.Second, FilterNodes: []string{"n"}, FilterTags: []tagFilter{{"k", "v.*"}}}.encode())
	f.Add(responseMsg{ID: 1, From: "a", Flags: respAck}.encode())
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = decodeMsg(b) })
}

func TestCoalescer(t *testing.T) {
	c := newCoalescer(time.Second, 100*time.Millisecond)
	t0 := time.Unix(0, 0)
	c.add(UserEvent{Name: "a", LTime: 2}, t0)
	c.add(UserEvent{Name: "a", LTime: 1}, t0.Add(50*time.Millisecond))
	c.add(UserEvent{Name: "b", LTime: 3}, t0.Add(60*time.Millisecond))
	ready, next := c.due(t0.Add(100 * time.Millisecond))
	require.Empty(t, ready)
	require.Equal(t, t0.Add(150*time.Millisecond), next)
	ready, _ = c.due(t0.Add(150 * time.Millisecond))
	require.Equal(t, []UserEvent{{Name: "a", LTime: 2, Coalesced: 2}}, ready)
	ready, next = c.due(t0.Add(200 * time.Millisecond))
	require.Equal(t, []UserEvent{{Name: "b", LTime: 3, Coalesced: 1}}, ready)
	require.True(t, next.IsZero())
	// A steady stream is cut at the period.
	for i := range 21 {
		c.add(UserEvent{Name: "c", LTime: uint64(i)}, t0.Add(time.Duration(i)*50*time.Millisecond))
	}
	ready, _ = c.due(t0.Add(time.Second))
	require.Len(t, ready, 1)
	require.Equal(t, 21, ready[0].Coalesced)
}

func TestSeenBuffer(t *testing.T) {
	b := newSeenBuffer(4)
	require.True(t, b.add(1, 1, "x", []byte("1x")))
	require.False(t, b.add(1, 1, "x", []byte("1x")))
	require.True(t, b.add(1, 1, "y", []byte("1y")))
	require.True(t, b.add(3, 3, "x", []byte("3x")))
	require.Equal(t, [][]byte{[]byte("1x"), []byte("1y"), []byte("3x")}, b.recent(3, 100))
	require.Equal(t, [][]byte{[]byte("1x"), []byte("1y")}, b.recent(3, 4))
	require.True(t, b.add(5, 5, "x", nil)) // reuses the slot of time 1
	require.Equal(t, [][]byte{[]byte("3x")}, b.recent(5, 100))
	require.False(t, b.add(0, 10, "z", nil), "too old")
}

// TestBroadcastRecoveredByPushPull cuts one member off while an event's
// gossip runs its course; the member gets the event, once, from the next
// state exchange.
func TestBroadcastRecoveredByPushPull(t *testing.T) {
	fn := faultnet.New(29, testkit.Logger(t))
	defer fn.Close()
	nodes := faultCluster(t, fn, 3, nil)
	sub := nodes[2].SubscribeUserEvents(0)
	t.Cleanup(sub.Close)
	rec := recordUser(sub)
	require.NoError(t, fn.Isolate("node-2"))
	require.NoError(t, nodes[0].Broadcast("missed", []byte("x")))
	testkit.WaitFor(t, 10*time.Second, func() bool { return gossipDrained(nodes[:2]) }, "gossip done")
	fn.Heal()
	testkit.WaitFor(t, 30*time.Second, func() bool { return len(rec.snapshot()) == 1 }, "the cut-off member gets the event")
	require.NoError(t, nodes[1].Broadcast("after", nil))
	testkit.WaitFor(t, 10*time.Second, func() bool { return len(rec.snapshot()) == 2 }, "and the next one")
	require.Equal(t, "missed", rec.snapshot()[0].Name)
}

// TestBroadcastBeforeJoinNotDelivered checks that a node joining later is
// not handed the events sent before it joined (they travel in push-pull
// state), but gets the later ones.
func TestBroadcastBeforeJoinNotDelivered(t *testing.T) {
	first := startNode(t, testConfig(t, "node-0"))
	require.NoError(t, first.Broadcast("old", nil))
	cfg := testConfig(t, "node-1")
	cfg.Seeds, cfg.WaitForJoin = []string{first.Local().Address()}, true
	late, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = late.Close() })
	sub := late.SubscribeUserEvents(0)
	rec := recordUser(sub)
	require.NoError(t, late.Start(testkit.Context(t, 10*time.Second)))
	require.NoError(t, first.Broadcast("new", nil))
	testkit.WaitFor(t, 10*time.Second, func() bool { return len(rec.snapshot()) > 0 }, "the later event")
	require.Equal(t, "new", rec.snapshot()[0].Name)
	require.Len(t, rec.snapshot(), 1)
}
