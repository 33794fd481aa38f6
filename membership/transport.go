package membership

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/conclave-go/conclave/internal/logadapt"
	"github.com/conclave-go/conclave/internal/netx"
)

const (
	// maxPacketSize bounds one received datagram (the UDP maximum).
	maxPacketSize = 65536
	// udpReadBuffer is the socket receive buffer size asked for.
	udpReadBuffer = 2 << 20
	// bindAttempts is how often a ":0" bind is retried when the UDP port
	// picked for the TCP listener is taken.
	bindAttempts = 10
	// Backoff after a failing Accept or ReadFrom, so a persistent error does
	// not spin.
	minErrorBackoff = 5 * time.Millisecond
	maxErrorBackoff = time.Second
)

// transport is memberlist's NodeAwareTransport on top of a netx.Network: a
// TCP listener and a UDP socket on the same port, one goroutine reading
// packets and one accepting streams. Every connection it hands out is
// tracked and closed by Shutdown, so memberlist's per-connection handlers
// end promptly, and dials in flight are cancelled.
type transport struct {
	logger   *slog.Logger
	network  netx.Network
	listener net.Listener
	packets  net.PacketConn
	bindIP   netip.Addr
	port     int

	packetCh chan *memberlist.Packet
	streamCh chan net.Conn

	ctx    context.Context // cancelled by Shutdown
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	mu     sync.Mutex // guards conns and hungUp
	conns  map[*trackedConn]struct{}
	hungUp map[netip.AddrPort]time.Time // dialed peers that closed before sending a byte

	maxStreams int           // accepted streams open at once
	perIP      *netx.IPLimit // accepted streams open at once from one address
	streams    atomic.Int64  // accepted streams open
	refused    atomic.Uint64 // accepted streams closed at once by a limit
	refuseLog  logadapt.Throttle
}

// maxHungUp bounds the hungUp map.
const maxHungUp = 64

var _ memberlist.NodeAwareTransport = (*transport)(nil)

// newTransport binds bindAddr ("ip:port", port 0 allowed) for TCP and UDP
// and starts the reader goroutines. At most maxStreams accepted streams are
// open at once, perIP of them from one address.
func newTransport(network netx.Network, bindAddr string, logger *slog.Logger, maxStreams, perIP int) (*transport, error) {
	host, portStr, err := net.SplitHostPort(bindAddr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &transport{
		logger:   logger,
		network:  network,
		packetCh: make(chan *memberlist.Packet),
		streamCh: make(chan net.Conn),
		ctx:      ctx,
		cancel:   cancel,
		conns:    make(map[*trackedConn]struct{}),
		hungUp:   make(map[netip.AddrPort]time.Time),

		maxStreams: maxStreams,
		perIP:      netx.NewIPLimit(perIP),
	}
	if err := t.bind(host, port); err != nil {
		cancel()
		return nil, err
	}
	t.wg.Add(2)
	go t.readPackets()
	go t.acceptStreams()
	return t, nil
}

// bind opens the TCP listener, then the UDP socket on the same port. With
// port 0 the kernel picks the TCP port, which may be taken for UDP: retry.
func (t *transport) bind(host string, port int) error {
	attempts := 1
	if port == 0 {
		attempts = bindAttempts
	}
	var err error
	for range attempts {
		if err = t.bindOnce(host, port); err == nil {
			return nil
		}
		t.logger.Debug("gossip bind attempt failed", "error", err)
	}
	return err
}

func (t *transport) bindOnce(host string, port int) error {
	ln, err := t.network.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("membership: listen tcp: %w", err)
	}
	ap, err := netip.ParseAddrPort(ln.Addr().String())
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("membership: tcp listener address %q: %w", ln.Addr(), err)
	}
	pc, err := t.network.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(int(ap.Port()))))
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("membership: listen udp on the tcp port %d: %w", ap.Port(), err)
	}
	growReadBuffer(pc)
	t.listener, t.packets = ln, pc
	t.bindIP, t.port = ap.Addr().Unmap(), int(ap.Port())
	return nil
}

// growReadBuffer asks for a large socket receive buffer, so bursts of gossip
// are not dropped by the kernel; it settles for what the system allows.
func growReadBuffer(pc net.PacketConn) {
	rb, ok := pc.(interface{ SetReadBuffer(int) error })
	if !ok {
		return
	}
	for size := udpReadBuffer; size >= 64*1024; size /= 2 {
		if rb.SetReadBuffer(size) == nil {
			return
		}
	}
}

// boundAddr returns the bound IP (possibly unspecified) and port.
func (t *transport) boundAddr() (netip.Addr, int) { return t.bindIP, t.port }

// FinalAdvertiseAddr implements memberlist.Transport: the configured IP (or
// the bound IP, or a private IP when bound to all interfaces) and the
// configured port (or the bound port).
func (t *transport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	if port == 0 {
		port = t.port
	}
	if ip != "" {
		addr, err := netip.ParseAddr(ip)
		if err != nil {
			return nil, 0, fmt.Errorf("membership: advertise address %q: %w", ip, err)
		}
		return net.IP(addr.Unmap().AsSlice()), port, nil
	}
	if !t.bindIP.IsUnspecified() {
		return net.IP(t.bindIP.AsSlice()), port, nil
	}
	addr, err := privateIP()
	if err != nil {
		return nil, 0, err
	}
	return net.IP(addr.AsSlice()), port, nil
}

// privateIP returns the first private IPv4 address of this host, else its
// first global unicast address.
func privateIP() (netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("membership: list interface addresses: %w", err)
	}
	var fallback netip.Addr
	for _, a := range addrs {
		prefix, err := netip.ParsePrefix(a.String())
		if err != nil {
			continue
		}
		ip := prefix.Addr().Unmap()
		if ip.Is4() && ip.IsPrivate() {
			return ip, nil
		}
		if !fallback.IsValid() && ip.IsGlobalUnicast() {
			fallback = ip
		}
	}
	if fallback.IsValid() {
		return fallback, nil
	}
	return netip.Addr{}, errors.New("membership: no private IP address found to advertise; set AdvertiseAddr")
}

// WriteTo implements memberlist.Transport.
func (t *transport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress implements memberlist.NodeAwareTransport.
func (t *transport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	ap, err := netip.ParseAddrPort(a.Addr)
	if err != nil {
		return time.Time{}, fmt.Errorf("membership: packet address %q: %w", a.Addr, err)
	}
	_, err = t.packets.WriteTo(b, net.UDPAddrFromAddrPort(ap))
	return time.Now(), err
}

// PacketCh implements memberlist.Transport.
func (t *transport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

// StreamCh implements memberlist.Transport.
func (t *transport) StreamCh() <-chan net.Conn { return t.streamCh }

// DialTimeout implements memberlist.Transport.
func (t *transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout implements memberlist.NodeAwareTransport. The dial is
// cancelled by Shutdown.
func (t *transport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(t.ctx, timeout)
	defer cancel()
	conn, err := t.network.Dial(ctx, "tcp", a.Addr)
	if err != nil {
		return nil, err
	}
	tc, err := t.track(conn)
	if err != nil {
		return nil, err
	}
	if ap, err := netip.ParseAddrPort(a.Addr); err == nil {
		tc.peer = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return tc, nil
}

// noteHungUp records that the dialed peer closed a stream without sending
// anything, which memberlist does to a stream whose cluster label or
// encryption it does not accept.
func (t *transport) noteHungUp(peer netip.AddrPort) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.hungUp) >= maxHungUp {
		clear(t.hungUp)
	}
	t.hungUp[peer] = time.Now()
}

// hungUpSince reports whether a stream dialed to addr was closed by the
// peer without a byte since the given time.
func (t *transport) hungUpSince(addr string, since time.Time) bool {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	at, ok := t.hungUp[netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())]
	return ok && !at.Before(since)
}

// Shutdown implements memberlist.Transport: it closes the sockets and every
// tracked connection, cancels dials, and waits for the reader goroutines.
func (t *transport) Shutdown() error {
	t.once.Do(func() {
		t.cancel()
		_ = t.listener.Close()
		_ = t.packets.Close()
		t.mu.Lock()
		conns := make([]*trackedConn, 0, len(t.conns))
		for c := range t.conns {
			conns = append(conns, c)
		}
		t.mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
		t.wg.Wait()
	})
	return nil
}

func (t *transport) closing() bool { return t.ctx.Err() != nil }

// readPackets hands every datagram to memberlist.
func (t *transport) readPackets() {
	defer t.wg.Done()
	buf := make([]byte, maxPacketSize)
	backoff := time.Duration(0)
	for {
		n, from, err := t.packets.ReadFrom(buf)
		now := time.Now()
		if err != nil {
			if t.closing() || !t.pause(&backoff) {
				return
			}
			t.logger.Warn("gossip packet read failed", "error", err)
			continue
		}
		backoff = 0
		if n < 1 {
			continue
		}
		p := &memberlist.Packet{Buf: append([]byte(nil), buf[:n]...), From: from, Timestamp: now}
		select {
		case t.packetCh <- p:
		case <-t.ctx.Done():
			return
		}
	}
}

// acceptStreams hands every accepted connection to memberlist.
func (t *transport) acceptStreams() {
	defer t.wg.Done()
	backoff := time.Duration(0)
	for {
		conn, err := t.listener.Accept()
		if err != nil {
			if t.closing() || !t.pause(&backoff) {
				return
			}
			t.logger.Warn("gossip stream accept failed", "error", err)
			continue
		}
		backoff = 0
		tc, ok := t.admit(conn)
		if !ok {
			continue
		}
		select {
		case t.streamCh <- tc:
		case <-t.ctx.Done():
			_ = tc.Close()
			return
		}
	}
}

// pause waits an exponentially growing backoff; false when shut down.
func (t *transport) pause(backoff *time.Duration) bool {
	*backoff = min(max(*backoff*2, minErrorBackoff), maxErrorBackoff)
	timer := time.NewTimer(*backoff)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-t.ctx.Done():
		return false
	}
}

// admit tracks an accepted stream within the stream limits, or closes it.
func (t *transport) admit(conn net.Conn) (*trackedConn, bool) {
	reason, limit := "", 0
	limited, ok := t.perIP.Admit(conn)
	switch {
	case !ok:
		reason, limit = "too many streams from one address", t.perIP.Max()
	case t.streams.Add(1) > int64(t.maxStreams):
		t.streams.Add(-1)
		_ = limited.Close() // frees the address's slot
		reason, limit = "too many streams", t.maxStreams
	}
	if reason != "" {
		t.refused.Add(1)
		t.refuseLog.Warn(t.logger, "gossip streams refused", "reason", reason, "limit", limit, "last_remote", conn.RemoteAddr().String())
		_ = conn.Close()
		return nil, false
	}
	tc, err := t.track(limited)
	if err != nil {
		t.streams.Add(-1)
		return nil, false
	}
	tc.inbound = true
	return tc, true
}

// streamCounts returns the accepted streams open and those refused.
func (t *transport) streamCounts() (open int, refused uint64) {
	return int(t.streams.Load()), t.refused.Load()
}

// track registers conn so that Shutdown closes it.
func (t *transport) track(conn net.Conn) (*trackedConn, error) {
	tc := &trackedConn{Conn: conn, t: t}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing() {
		_ = conn.Close()
		return nil, net.ErrClosed
	}
	t.conns[tc] = struct{}{}
	return tc, nil
}

// trackedConn removes itself from its transport when closed. For a dialed
// connection it notes a peer that hangs up without answering.
type trackedConn struct {
	net.Conn
	t       *transport
	peer    netip.AddrPort // set for dialed connections
	inbound bool           // accepted: counted in the stream limits
	got     atomic.Bool    // a byte was read
	once    sync.Once
	err     error
}

func (c *trackedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.got.Store(true)
	} else if hungUp(err) && c.peer.IsValid() && !c.got.Load() {
		c.t.noteHungUp(c.peer)
	}
	return n, err
}

// hungUp reports an error from a peer that closed the connection: a clean
// close (EOF), or a reset, which the peer's kernel sends instead when it
// closes with our bytes still unread.
func hungUp(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.err = c.Conn.Close()
		c.t.mu.Lock()
		delete(c.t.conns, c)
		c.t.mu.Unlock()
		if c.inbound {
			c.t.streams.Add(-1)
		}
	})
	return c.err
}
