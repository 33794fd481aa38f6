package netx

import (
	"net"
	"net/netip"
	"sync"
)

// IPLimit bounds the connections open at once from one remote IP address,
// so that one source cannot take every connection a listener allows. It is
// safe for concurrent use.
type IPLimit struct {
	max int

	mu   sync.Mutex // guards open
	open map[netip.Addr]int
}

// NewIPLimit returns a limit of max connections per remote IP; max < 1
// means no limit.
func NewIPLimit(max int) *IPLimit {
	return &IPLimit{max: max, open: make(map[netip.Addr]int)}
}

// Max returns the limit (0: none).
func (l *IPLimit) Max() int { return max(l.max, 0) }

// Admit takes a slot for conn's remote IP. It returns conn wrapped so that
// its first Close frees the slot, or false when that IP already holds the
// maximum (the caller closes conn). A connection whose remote address has
// no IP is admitted uncounted.
func (l *IPLimit) Admit(conn net.Conn) (net.Conn, bool) {
	ip, ok := remoteIP(conn)
	if l.max < 1 || !ok {
		return conn, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[ip] >= l.max {
		return nil, false
	}
	l.open[ip]++
	return &limitedConn{Conn: conn, release: func() { l.release(ip) }}, true
}

// Open returns the connections counted for ip.
func (l *IPLimit) Open(ip netip.Addr) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open[ip.Unmap()]
}

func (l *IPLimit) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[ip]--; l.open[ip] <= 0 {
		delete(l.open, ip)
	}
}

func remoteIP(conn net.Conn) (netip.Addr, bool) {
	ra := conn.RemoteAddr()
	if ra == nil {
		return netip.Addr{}, false
	}
	ap, err := netip.ParseAddrPort(ra.String())
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

// limitedConn frees its slot of an IPLimit on its first Close.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
