package membership

import (
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func member(name string, s Status) Member {
	return Member{Name: name, Addr: netip.MustParseAddr("127.0.0.1"), Port: 7946, Status: s, Tags: map[string]string{"k": "v"}}
}

func TestTableTransitions(t *testing.T) {
	now := time.Unix(1000, 0)
	tests := []struct {
		name  string
		steps []Status
		want  []EventType
	}{
		{"join", []Status{StatusAlive}, []EventType{EventJoin}},
		{"update", []Status{StatusAlive, StatusAlive}, []EventType{EventJoin, EventUpdate}},
		{"leave", []Status{StatusAlive, StatusLeft}, []EventType{EventJoin, EventLeave}},
		{"fail", []Status{StatusAlive, StatusFailed}, []EventType{EventJoin, EventFailed}},
		{"fail twice", []Status{StatusAlive, StatusFailed, StatusFailed}, []EventType{EventJoin, EventFailed}},
		{"rejoin", []Status{StatusAlive, StatusFailed, StatusAlive}, []EventType{EventJoin, EventFailed, EventJoin}},
		{"left then failed", []Status{StatusAlive, StatusLeft, StatusFailed}, []EventType{EventJoin, EventLeave, EventFailed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := newTable("local")
			var got []EventType
			for i, s := range tt.steps {
				m := member("x", s)
				m.Tags["step"] = strconv.Itoa(i)
				if ev, ok := tb.set(m, now); ok {
					got = append(got, ev.Type)
					require.Equal(t, s, ev.Member.Status)
				}
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func TestTableIgnoresUnchangedMember(t *testing.T) {
	tb := newTable("local")
	_, ok := tb.set(member("x", StatusAlive), time.Now())
	require.True(t, ok)
	_, ok = tb.set(member("x", StatusAlive), time.Now())
	require.False(t, ok, "nothing visible changed")
}

func TestTableEventsAreCopies(t *testing.T) {
	tb := newTable("local")
	ev, _ := tb.set(member("x", StatusAlive), time.Now())
	ev.Member.Tags["k"] = "changed"
	got, _ := tb.get("x")
	require.Equal(t, "v", got.Tags["k"])
	got.Tags["k"] = "changed"
	require.Equal(t, "v", tb.members()[0].Tags["k"])
}

func TestTableReap(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tb := newTable("local")
	tb.set(member("local", StatusAlive), t0)
	tb.set(member("alive", StatusAlive), t0)
	tb.set(member("failed", StatusAlive), t0)
	tb.set(member("failed", StatusFailed), t0)
	tb.set(member("left", StatusAlive), t0)
	tb.set(member("left", StatusLeft), t0.Add(5*time.Second))

	require.Empty(t, tb.reap(t0.Add(9*time.Second), 10*time.Second, 10*time.Second))
	evs := tb.reap(t0.Add(10*time.Second), 10*time.Second, 10*time.Second)
	require.Len(t, evs, 1)
	require.Equal(t, Event{Type: EventReap, Member: member("failed", StatusFailed)}, evs[0])
	evs = tb.reap(t0.Add(15*time.Second), 10*time.Second, 10*time.Second)
	require.Len(t, evs, 1)
	require.Equal(t, "left", evs[0].Member.Name)
	require.Equal(t, []string{"alive", "local"}, tb.names())

	// The local node is never reaped, even when it left.
	tb.set(member("local", StatusLeft), t0)
	require.Empty(t, tb.reap(t0.Add(time.Hour), time.Second, time.Second))
}

func TestTableWithStatusExcludesLocal(t *testing.T) {
	tb := newTable("local")
	tb.set(member("local", StatusAlive), time.Now())
	tb.set(member("b", StatusAlive), time.Now())
	tb.set(member("a", StatusAlive), time.Now())
	tb.set(member("c", StatusFailed), time.Now())
	alive := tb.withStatus(StatusAlive)
	require.Len(t, alive, 2)
	require.Equal(t, "a", alive[0].Name)
	require.Len(t, tb.withStatus(StatusFailed), 1)
}

func TestPickReconnect(t *testing.T) {
	_, ok := pickReconnect(nil, func(int) int { return 0 })
	require.False(t, ok)
	_, ok = pickReconnect([]Member{{Name: "no-addr", Status: StatusFailed}}, func(int) int { return 0 })
	require.False(t, ok)
	failed := []Member{member("a", StatusFailed), member("b", StatusFailed)}
	got, ok := pickReconnect(failed, func(n int) int { require.Equal(t, 2, n); return 1 })
	require.True(t, ok)
	require.Equal(t, "b", got.Name)
}

func TestSyncTargets(t *testing.T) {
	var alive []Member
	for i := range 100 {
		m := member("m", StatusAlive)
		m.Port = uint16(1000 + i)
		alive = append(alive, m)
	}
	identity := func(n int) []int {
		p := make([]int, n)
		for i := range p {
			p[i] = i
		}
		return p
	}
	require.Len(t, syncTargets(alive, 0, identity), syncFirstFanout)
	require.Len(t, syncTargets(alive[:5], 0, identity), 5)
	later := syncTargets(alive, 1, identity)
	require.Equal(t, []string{"127.0.0.1:1000", "127.0.0.1:1001", "127.0.0.1:1002"}, later)
	require.Empty(t, syncTargets(nil, 0, identity))
}

func TestJitterBounds(t *testing.T) {
	for range 1000 {
		d := jitter(time.Second)
		require.GreaterOrEqual(t, d, 800*time.Millisecond)
		require.Less(t, d, 1200*time.Millisecond)
	}
}

func TestStringers(t *testing.T) {
	require.Equal(t, "join", EventJoin.String())
	require.Equal(t, "update", EventUpdate.String())
	require.Equal(t, "leave", EventLeave.String())
	require.Equal(t, "failed", EventFailed.String())
	require.Equal(t, "reap", EventReap.String())
	require.Equal(t, "event(0)", EventType(0).String())
	require.Equal(t, "alive", StatusAlive.String())
	require.Equal(t, "left", StatusLeft.String())
	require.Equal(t, "failed", StatusFailed.String())
	require.Equal(t, "none", StatusNone.String())
	require.Equal(t, "status(9)", Status(9).String())
	require.Equal(t, "server", RoleServer.String())
	require.Equal(t, "client", RoleClient.String())
	require.Equal(t, "role(5)", Role(5).String())
	require.Equal(t, "join x", Event{Type: EventJoin, Member: Member{Name: "x"}}.String())
	require.Equal(t, "127.0.0.1:7946", member("x", StatusAlive).Address())
	require.Equal(t, "", Member{}.Address())
}
