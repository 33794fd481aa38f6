package membership

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// conflictProbes is how many pings decide whether the holder of our name at
// another address is alive.
const conflictProbes = 3

// Join contacts the given addresses ("host:port", "ip:port", "host" or
// "ip") and merges state with each one that answers. It returns how many
// answered. The error, when none did, wraps ErrJoinFailed and each
// address's error; it matches ErrNameConflict when a live member holds this
// node's name. Names are resolved on every call; ctx bounds resolution and
// is checked between addresses (one state exchange is bounded by
// Timing.StreamTimeout).
func (m *Membership) Join(ctx context.Context, addrs []string) (int, error) {
	if _, err := m.running(); err != nil {
		return 0, err
	}
	for i, a := range addrs {
		if _, _, err := splitSeed(a); err != nil {
			return 0, fmt.Errorf("membership: join address %d: %w", i, err)
		}
	}
	resolved, err := m.resolve(ctx, addrs, nil)
	if len(resolved) == 0 {
		if err == nil {
			err = errors.New("no address to join other than this node's own")
		}
		return 0, fmt.Errorf("%w: %w", ErrJoinFailed, err)
	}
	return m.joinAddrs(ctx, resolved)
}

// initialJoin joins the seeds once, or until it succeeds with WaitForJoin.
func (m *Membership) initialJoin(ctx context.Context) error {
	if len(m.cfg.Seeds) == 0 {
		return nil
	}
	m.joining.Store(true) // the background rejoin waits for this loop
	defer m.joining.Store(false)
	for {
		n, err := m.joinSeeds(ctx, false)
		if n == 0 && err == nil {
			err = errors.New("no seed other than this node's own address")
		}
		switch {
		case errors.Is(err, ErrNameConflict):
			// Checked first: probing the holder of our name exchanges
			// gossip with it, so we may no longer be alone.
			return err
		case n > 0 || !m.alone():
			return nil
		case !m.cfg.WaitForJoin:
			m.logger.Warn("no seed answered; retrying in the background", "error", err)
			return nil
		}
		m.logger.Debug("no seed answered yet", "error", err)
		if werr := waitCtx(ctx, jitter(m.timing.RejoinInterval)); werr != nil {
			return fmt.Errorf("%w: no seed answered before the start deadline (%w); last attempt: %w", ErrJoinFailed, werr, err)
		}
		if m.loopCtx.Err() != nil {
			return ErrClosed
		}
	}
}

// joinSeeds resolves the seeds and joins them. With skipAlive, seeds that
// are alive members already are left out.
func (m *Membership) joinSeeds(ctx context.Context, skipAlive bool) (int, error) {
	var skip []Member
	if skipAlive {
		m.hub.read(func(t *table) { skip = t.withStatus(StatusAlive) })
	}
	addrs, rerr := m.resolve(ctx, m.cfg.Seeds, skip)
	if len(addrs) == 0 {
		if rerr == nil {
			return 0, nil
		}
		return 0, fmt.Errorf("%w: %w", ErrJoinFailed, rerr)
	}
	return m.joinAddrs(ctx, addrs)
}

// resolve turns specs into "ip:port" addresses, resolving host names now,
// and leaves out this node's own address and the addresses of skip.
func (m *Membership) resolve(ctx context.Context, specs []string, skip []Member) ([]string, error) {
	var (
		out  []string
		errs []error
		seen = make(map[netip.AddrPort]bool)
	)
	for _, a := range m.localAddrs() {
		seen[a] = true
	}
	for _, s := range skip {
		seen[netip.AddrPortFrom(s.Addr, s.Port)] = true
	}
	for _, spec := range specs {
		aps, err := m.resolveOne(ctx, spec)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, ap := range aps {
			if !seen[ap] {
				seen[ap] = true
				out = append(out, ap.String())
			}
		}
	}
	return out, errors.Join(errs...)
}

func (m *Membership) resolveOne(ctx context.Context, spec string) ([]netip.AddrPort, error) {
	host, port, err := splitSeed(spec)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", spec, err)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.AddrPort{netip.AddrPortFrom(ip.Unmap(), uint16(port))}, nil
	}
	hosts, err := m.lookup(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("resolve %q: %w", host, err)
	}
	var out []netip.AddrPort
	for _, h := range hosts {
		if ip, err := netip.ParseAddr(h); err == nil {
			out = append(out, netip.AddrPortFrom(ip.Unmap(), uint16(port)))
		}
	}
	return out, nil
}

// localAddrs returns the addresses at which this node would reach itself.
func (m *Membership) localAddrs() []netip.AddrPort {
	m.mu.Lock()
	ml, tr := m.ml, m.tr
	m.mu.Unlock()
	if ml == nil {
		return nil
	}
	local := ml.LocalNode()
	adv, _ := netip.AddrFromSlice(local.Addr)
	out := []netip.AddrPort{netip.AddrPortFrom(adv.Unmap(), local.Port)}
	ip, port := tr.boundAddr()
	out = append(out, netip.AddrPortFrom(ip, uint16(port)))
	if ip.IsUnspecified() || ip.IsLoopback() {
		out = append(out,
			netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)),
			netip.AddrPortFrom(netip.IPv6Loopback(), uint16(port)))
	}
	return out
}

// joinAddrs exchanges state with each "ip:port" address in turn and starts
// a join sync burst when at least one answered.
func (m *Membership) joinAddrs(ctx context.Context, addrs []string) (int, error) {
	ml, err := m.running()
	if err != nil {
		return 0, err
	}
	var (
		joined int
		errs   joinErrors
	)
	for _, addr := range addrs {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		start := time.Now()
		_, err := ml.Join([]string{addr})
		if err == nil {
			joined++
			continue
		}
		err = m.explainJoinError(addr, start, err)
		if errors.Is(err, ErrNameConflict) {
			return joined, err
		}
		errs = append(errs, err)
	}
	if joined > 0 {
		m.requestSync()
		return joined, nil
	}
	return 0, fmt.Errorf("%w: %w", ErrJoinFailed, errs)
}

// errHungUp explains a peer that closed the stream without answering.
var errHungUp = errors.New("the peer closed the connection without answering, " +
	"which it does when its cluster Label or gossip encryption differs from this node's")

// explainJoinError turns memberlist's error for one address into a precise
// one: a name conflict, a peer that hung up, or memberlist's own message.
func (m *Membership) explainJoinError(addr string, start time.Time, err error) error {
	if c := m.conflicts.find(addr, start); c != nil {
		return m.checkConflict(c)
	}
	m.mu.Lock()
	tr := m.tr
	m.mu.Unlock()
	if tr != nil && tr.hungUpSince(addr, start) {
		return fmt.Errorf("%s: %w", addr, errHungUp)
	}
	// memberlist reports a one-address join as a one-element list.
	if w, ok := err.(interface{ WrappedErrors() []error }); ok && len(w.WrappedErrors()) == 1 {
		err = w.WrappedErrors()[0]
	}
	return err
}

// joinErrors is the per-address errors of a join, on one line.
type joinErrors []error

func (e joinErrors) Error() string {
	parts := make([]string, len(e))
	for i, err := range e {
		parts[i] = err.Error()
	}
	return strings.Join(parts, "; ")
}

func (e joinErrors) Unwrap() []error { return e }

// checkConflict decides what a refused join for a name conflict means. If
// the name is ours and its holder at the other address does not answer, it
// is a previous incarnation of this node that the cluster has not yet
// declared failed: the join is retried later and succeeds once it has.
// Otherwise the conflict stands.
func (m *Membership) checkConflict(c *NameConflictError) error {
	if c.Name != m.cfg.Name {
		return c
	}
	ml, err := m.running()
	if err != nil {
		return err
	}
	holder, err := net.ResolveUDPAddr("udp", c.Existing)
	if err != nil {
		return c
	}
	for range conflictProbes {
		if _, err := ml.Ping(c.Name, holder); err == nil {
			return c
		}
	}
	m.logger.Info("previous incarnation of this node still listed; waiting for the cluster to declare it failed",
		"previous_address", c.Existing)
	return fmt.Errorf("name %q is still listed at %s, which does not answer; retry once the cluster has declared it failed",
		c.Name, c.Existing)
}

// jitter returns d scaled by a random factor in [0.8, 1.2).
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*randFloat()))
}
