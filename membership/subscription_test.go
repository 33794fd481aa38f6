package membership

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// emit pushes one join event per name through the hub.
func emit(h *hub, names ...string) {
	for _, n := range names {
		h.change(func(t *table, now time.Time) []Event {
			ev, _ := t.set(member(n, StatusAlive), now)
			return []Event{ev}
		})
	}
}

func TestSubscriptionDeliversInOrder(t *testing.T) {
	h := newHub("local")
	defer h.close()
	sub := h.subscribe(0)
	emit(h, "a", "b", "c")
	for _, want := range []string{"a", "b", "c"} {
		select {
		case ev := <-sub.Events():
			require.Equal(t, want, ev.Member.Name)
			require.Equal(t, EventJoin, ev.Type)
		case <-time.After(10 * time.Second):
			t.Fatal("no event")
		}
	}
	require.Zero(t, sub.Dropped())
}

func TestSubscriptionOverflowIsCountedAndNeverBlocks(t *testing.T) {
	h := newHub("local")
	defer h.close()
	sub := h.subscribe(4) // nobody reads it
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 100 {
			emit(h, string(rune('a'+i%26))+string(rune('a'+i/26)))
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a slow subscriber blocked the producer")
	}
	// The queue holds 4, counting the one being delivered.
	require.Equal(t, uint64(96), sub.Dropped())
	got := 0
	for len(sub.Events()) > 0 || got < 4 {
		select {
		case <-sub.Events():
			got++
		case <-time.After(time.Second):
			t.Fatalf("only %d queued events delivered", got)
		}
	}
}

func TestSubscriptionClose(t *testing.T) {
	h := newHub("local")
	sub := h.subscribe(1)
	other := h.subscribe(1)
	sub.Close()
	sub.Close() // idempotent
	_, ok := <-sub.Events()
	require.False(t, ok)
	emit(h, "a") // a closed subscription is no longer fed
	h.close()
	for range other.Events() {
	}
	late := h.subscribe(1)
	_, ok = <-late.Events()
	require.False(t, ok, "subscribing after close gives a closed channel")
	late.Close()
}

func TestSubscriptionConcurrentUse(t *testing.T) {
	h := newHub("local")
	var wg sync.WaitGroup
	for range 4 {
		sub := h.subscribe(8)
		wg.Go(func() {
			for range sub.Events() {
			}
		})
	}
	for i := range 4 {
		wg.Go(func() {
			for j := range 50 {
				emit(h, string(rune('a'+i))+string(rune('a'+j%26)))
			}
		})
	}
	time.AfterFunc(100*time.Millisecond, h.close)
	wg.Wait()
}
