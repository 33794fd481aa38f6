package faultnet

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// regKey identifies a bound address. TCP and UDP ports are separate spaces,
// so the protocol is part of the key.
type regKey struct {
	proto string // "tcp" or "udp"
	addr  netip.AddrPort
}

// regEntry records which host bound an address, and through which socket, so
// that closing an old socket never removes a newer registration.
type regEntry struct {
	host  string
	owner any
}

// registry maps bound addresses to host names. It is guarded by Network.mu.
type registry map[regKey]regEntry

// protoOf maps a Go network name to the registry's protocol, or "" for
// networks the registry does not track.
func protoOf(network string) string {
	switch {
	case strings.HasPrefix(network, "tcp"):
		return "tcp"
	case strings.HasPrefix(network, "udp"):
		return "udp"
	}
	return ""
}

// keyOf returns the registry key of a socket address.
func keyOf(proto string, a net.Addr) (regKey, bool) {
	if proto == "" || a == nil {
		return regKey{}, false
	}
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.UDPAddr:
		ap = a.AddrPort()
	case *net.TCPAddr:
		ap = a.AddrPort()
	default:
		var err error
		if ap, err = netip.ParseAddrPort(a.String()); err != nil {
			return regKey{}, false
		}
	}
	return regKey{proto, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}, ap.IsValid()
}

// lookup returns the host bound to k, also matching a host bound to the
// unspecified address on k's port.
func (r registry) lookup(k regKey) string {
	if e, ok := r[k]; ok {
		return e.host
	}
	for _, unspec := range []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()} {
		if e, ok := r[regKey{k.proto, netip.AddrPortFrom(unspec, k.addr.Port())}]; ok {
			return e.host
		}
	}
	return ""
}

// register records that host bound a through owner. The empty host (the
// outside world) is never registered.
func (n *Network) register(proto string, a net.Addr, host string, owner any) (regKey, bool) {
	k, ok := keyOf(proto, a)
	if !ok || host == "" {
		return regKey{}, false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.registry[k] = regEntry{host, owner}
	return k, true
}

// unregister removes k if owner still holds it.
func (n *Network) unregister(k regKey, owner any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if e, ok := n.registry[k]; ok && e.owner == owner {
		delete(n.registry, k)
	}
}

// hostOf returns the host bound to a, or "" when a is unknown.
func (n *Network) hostOf(proto string, a net.Addr) string {
	k, ok := keyOf(proto, a)
	if !ok {
		return ""
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.registry.lookup(k)
}

// hostOfDial returns the host bound to the dial address address ("ip:port"
// or "name:port"), or "" when it is unknown. Names are resolved with ctx.
func (n *Network) hostOfDial(ctx context.Context, proto, address string) string {
	if proto == "" {
		return ""
	}
	if ap, err := netip.ParseAddrPort(address); err == nil {
		return n.hostOf(proto, net.TCPAddrFromAddrPort(ap))
	}
	name, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return ""
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return ""
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", name)
	if err != nil {
		return ""
	}
	for _, ip := range ips {
		if h := n.hostOf(proto, net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port)))); h != "" {
			return h
		}
	}
	return ""
}
