package membership

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Join sync. memberlist spreads a new member by gossip, which occasionally
// misses a node; that node then learns of the newcomer only at its next
// push-pull, up to PushPullInterval later (30 s on a LAN). After every
// successful join, the joining node therefore exchanges full state directly:
// first with every member it knows (so each of them learns of it over TCP,
// at once), then in later rounds with a few random members (to pick up
// nodes that joined concurrently elsewhere).
const (
	// syncFirstFanout caps the first round's targets.
	syncFirstFanout = 64
	// syncLaterFanout is the number of targets of each later round.
	syncLaterFanout = 3
	// syncWorkers is how many exchanges of a round run at once.
	syncWorkers = 4
)

// requestSync asks the sync loop for a burst; it never blocks.
func (m *Membership) requestSync() {
	select {
	case m.syncReq <- struct{}{}:
	default:
	}
}

// syncLoop runs join sync bursts: round 0 at once, then one round every
// JoinSyncInterval until JoinSyncRounds rounds ran. A new request restarts
// the burst.
func (m *Membership) syncLoop() {
	defer m.loops.Done()
	rounds := m.timing.JoinSyncRounds
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	next := rounds
	for {
		select {
		case <-m.loopCtx.Done():
			return
		case <-m.syncReq:
			next = 0
		case <-timer.C:
		}
		if next >= rounds {
			continue
		}
		m.syncRound(next)
		next++
		if next < rounds {
			timer.Reset(m.timing.JoinSyncInterval)
		}
	}
}

// syncRound exchanges state with the round's targets.
func (m *Membership) syncRound(round int) {
	ml, err := m.running()
	if err != nil {
		return
	}
	began := time.Now()
	var alive []Member
	m.hub.read(func(t *table) { alive = t.withStatus(StatusAlive) })
	m.exchange(m.loopCtx, ml, syncTargets(alive, round, rand.Perm))
	m.logger.Debug("join sync round done", "round", round, "members", len(alive), "took", time.Since(began))
}

// exchange runs a join state exchange with each address, syncWorkers at a
// time, until done or ctx is cancelled.
func (m *Membership) exchange(ctx context.Context, ml *memberlist.Memberlist, addrs []string) {
	targets := make(chan string)
	var wg sync.WaitGroup
	for range syncWorkers {
		wg.Go(func() {
			for addr := range targets {
				if _, err := ml.Join([]string{addr}); err != nil {
					m.logger.Debug("state exchange failed", "address", addr, "error", err)
				}
			}
		})
	}
	defer wg.Wait()
	defer close(targets)
	for _, addr := range addrs {
		select {
		case targets <- addr:
		case <-ctx.Done():
			return
		}
	}
}

// syncTargets returns the addresses to exchange state with in a round, in
// random order; perm(n) returns a permutation of [0, n).
func syncTargets(alive []Member, round int, perm func(int) []int) []string {
	limit := syncLaterFanout
	if round == 0 {
		limit = syncFirstFanout
	}
	out := make([]string, 0, min(limit, len(alive)))
	for _, i := range perm(len(alive)) {
		if len(out) == limit {
			break
		}
		if a := alive[i].Address(); a != "" {
			out = append(out, a)
		}
	}
	return out
}
