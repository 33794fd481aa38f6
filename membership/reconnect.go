package membership

import (
	"math/rand/v2"
	"time"
)

// maintainLoop runs the periodic work that keeps the cluster whole:
//
//   - rejoin: while the node has no other alive member, or some member is
//     failed, join the seeds (re-resolved each time);
//   - reconnect: try one random failed member, so that two sides of a healed
//     partition find each other again even after memberlist forgot them;
//   - reap: forget failed members after ReconnectTimeout and left members
//     after TombstoneTimeout.
//
// Intervals come from the timing profile, jittered by ±20%.
func (m *Membership) maintainLoop() {
	defer m.loops.Done()
	rejoin := time.NewTimer(jitter(m.timing.RejoinInterval))
	defer rejoin.Stop()
	reconnect := time.NewTimer(jitter(m.timing.ReconnectInterval))
	defer reconnect.Stop()
	reap := time.NewTicker(m.timing.ReapInterval)
	defer reap.Stop()
	for {
		select {
		case <-m.loopCtx.Done():
			return
		case <-rejoin.C:
			m.rejoinSeeds()
			rejoin.Reset(jitter(m.timing.RejoinInterval))
		case <-reconnect.C:
			m.reconnectFailed()
			reconnect.Reset(jitter(m.timing.ReconnectInterval))
		case <-reap.C:
			m.reap()
		}
	}
}

// rejoinSeeds joins the seeds that are not alive members, when the node is
// alone or misses someone.
func (m *Membership) rejoinSeeds() {
	if len(m.cfg.Seeds) == 0 || m.joining.Load() {
		return
	}
	alone := m.alone()
	var failed int
	m.hub.read(func(t *table) { failed = len(t.withStatus(StatusFailed)) })
	if !alone && failed == 0 {
		return
	}
	m.hub.counts.rejoins.Add(1)
	n, err := m.joinSeeds(m.loopCtx, true)
	switch {
	case n > 0:
		m.logger.Info("joined seeds", "answered", n, "was_alone", alone)
	case err != nil && alone:
		m.logger.Debug("seeds still unreachable", "error", err)
	}
}

// reconnectFailed tries to reach one random failed member.
func (m *Membership) reconnectFailed() {
	var failed []Member
	m.hub.read(func(t *table) { failed = t.withStatus(StatusFailed) })
	target, ok := pickReconnect(failed, rand.IntN)
	if !ok {
		return
	}
	m.hub.counts.reconnect.Add(1)
	if _, err := m.joinAddrs(m.loopCtx, []string{target.Address()}); err != nil {
		m.logger.Debug("reconnect failed", "member", target.Name, "address", target.Address(), "error", err)
		return
	}
	m.logger.Info("reconnected to failed member", "member", target.Name, "address", target.Address())
}

// pickReconnect chooses the failed member to try; intn(n) returns a number
// in [0, n).
func pickReconnect(failed []Member, intn func(int) int) (Member, bool) {
	var candidates []Member
	for _, f := range failed {
		if f.Addr.IsValid() && f.Port != 0 {
			candidates = append(candidates, f)
		}
	}
	if len(candidates) == 0 {
		return Member{}, false
	}
	return candidates[intn(len(candidates))], true
}

// reap forgets members whose timeouts passed.
func (m *Membership) reap() {
	failedTTL, leftTTL := m.timing.ReconnectTimeout, m.timing.TombstoneTimeout
	var reaped []Event
	m.hub.change(func(t *table, now time.Time) []Event {
		reaped = t.reap(now, failedTTL, leftTTL)
		return reaped
	})
	for _, ev := range reaped {
		m.coords.forget(ev.Member.Name)
	}
}

// randFloat returns a number in [0, 1) for jitter.
func randFloat() float64 { return rand.Float64() }
