package netx_test

import (
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/netx"
)

// pipeConn is a connection with a chosen remote address.
type pipeConn struct {
	net.Conn
	remote net.Addr
}

func (c pipeConn) RemoteAddr() net.Addr { return c.remote }

func connFrom(t *testing.T, addr string) net.Conn {
	a, b := net.Pipe()
	t.Cleanup(func() { _ = b.Close() })
	var remote net.Addr
	if addr != "" {
		remote = net.TCPAddrFromAddrPort(netip.MustParseAddrPort(addr))
	}
	return pipeConn{Conn: a, remote: remote}
}

func TestIPLimitBoundsEachAddress(t *testing.T) {
	l := netx.NewIPLimit(2)
	first, ok := l.Admit(connFrom(t, "10.0.0.1:1000"))
	require.True(t, ok)
	_, ok = l.Admit(connFrom(t, "10.0.0.1:1001"))
	require.True(t, ok)
	_, ok = l.Admit(connFrom(t, "10.0.0.1:1002"))
	assert.False(t, ok, "a third connection from one IP is refused")
	_, ok = l.Admit(connFrom(t, "10.0.0.2:1000"))
	assert.True(t, ok, "another IP has its own slots")
	_, ok = l.Admit(connFrom(t, "[::ffff:10.0.0.1]:1003"))
	assert.False(t, ok, "an IPv4-mapped address counts as the IPv4 address")

	require.NoError(t, first.Close())
	require.NoError(t, first.Close(), "a second Close frees nothing more")
	assert.Equal(t, 1, l.Open(netip.MustParseAddr("10.0.0.1")))
	_, ok = l.Admit(connFrom(t, "10.0.0.1:1004"))
	assert.True(t, ok, "a closed connection frees its slot")
	_, ok = l.Admit(connFrom(t, "10.0.0.1:1005"))
	assert.False(t, ok)
}

func TestIPLimitZeroAndAddresslessAreUnbounded(t *testing.T) {
	l := netx.NewIPLimit(0)
	for range 10 {
		_, ok := l.Admit(connFrom(t, "10.0.0.1:1000"))
		require.True(t, ok)
	}
	l = netx.NewIPLimit(1)
	for range 3 {
		_, ok := l.Admit(connFrom(t, ""))
		require.True(t, ok, "a connection without an IP remote is not counted")
	}
}
