package consensus

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Bounds of a client's questions about the leader.
const (
	// leaderAskTimeout bounds one status request that looks for the leader.
	leaderAskTimeout = 2 * time.Second
	// leaderAskGap is the least time between two such requests while no
	// leader is known, so that a group without a leader is not asked once
	// per write.
	leaderAskGap = 20 * time.Millisecond
	// leaderCheckGap is the least time between two such requests while a
	// leader is known but writes name other servers (the known one may be
	// gone from the caller's list).
	leaderCheckGap = time.Second
)

// leaderHint is the address of the leader a [Client] last learned of. It is
// learned by asking a server the client writes through for its status, one
// question at a time, and forgotten when a write sent straight to that
// address finds it no longer leads or cannot be reached. A server that
// knows no leader leaves the hint as it is.
type leaderHint struct {
	remote *remote
	ctx    context.Context // ends when the client closes

	mu     sync.Mutex // guards the fields below
	addr   string     // "" while unknown
	asking bool       // a status request is in flight
	last   time.Time  // when the last question was asked
	closed bool       // no question may start
	wg     sync.WaitGroup
}

func newLeaderHint(ctx context.Context, r *remote) *leaderHint {
	return &leaderHint{remote: r, ctx: ctx}
}

// get returns the leader's address, or "" when none is known.
func (h *leaderHint) get() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.addr
}

// forget drops addr as the leader, unless another was learned meanwhile.
func (h *leaderHint) forget(addr string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.addr == addr {
		h.addr = ""
	}
}

// learn asks the server at serverAddr which server leads, on a goroutine of
// its own, unless a question is in flight or was asked too recently
// (leaderAskGap while no leader is known, leaderCheckGap while one is). It
// never blocks.
func (h *leaderHint) learn(serverAddr string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	gap := leaderAskGap
	if h.addr != "" {
		gap = leaderCheckGap
	}
	if h.asking || now.Before(h.last.Add(gap)) || h.closed || h.ctx.Err() != nil {
		return
	}
	h.asking, h.last = true, now
	h.wg.Add(1)
	go h.ask(serverAddr)
}

func (h *leaderHint) ask(serverAddr string) {
	defer h.wg.Done()
	ctx, cancel := context.WithTimeout(h.ctx, leaderAskTimeout)
	defer cancel()
	st, err := h.remote.status(ctx, serverAddr)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.asking = false
	if err != nil {
		return
	}
	switch {
	case st.State == StateLeader:
		h.addr = st.Addr
	case st.State == StateFollower && st.Leader.Addr != "":
		h.addr = st.Leader.Addr
	}
}

// wait stops new questions and waits for the one in flight, if any (the
// client has closed).
func (h *leaderHint) wait() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.wg.Wait()
}

// staleLeader reports whether err from a write sent straight to the leader
// means that address may no longer lead or be reachable: the write did not
// run there, or its outcome is unknown.
func staleLeader(err error) bool {
	return isRetryable(err) || errors.Is(err, ErrOutcomeUnknown)
}
