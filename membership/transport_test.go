package membership

import (
	"io"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/conclave-go/conclave/internal/netx"
	"github.com/conclave-go/conclave/internal/testkit"
)

func newTestTransport(t *testing.T) *transport {
	t.Helper()
	tr, err := newTransport(netx.Real(), "127.0.0.1:0", testkit.Logger(t), DefaultMaxStreams, DefaultMaxStreams/2)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tr.Shutdown() })
	return tr
}

func TestTransportBindsOnePortForTCPAndUDP(t *testing.T) {
	tr := newTestTransport(t)
	ip, port := tr.boundAddr()
	require.Equal(t, netip.MustParseAddr("127.0.0.1"), ip)
	require.NotZero(t, port)
	require.Equal(t, port, tr.listener.Addr().(*net.TCPAddr).Port)
	require.Equal(t, port, tr.packets.LocalAddr().(*net.UDPAddr).Port)

	// A fixed port already taken is an error, not a retry loop.
	_, err := newTransport(netx.Real(), "127.0.0.1:"+strconv.Itoa(port), testkit.Logger(t), DefaultMaxStreams, DefaultMaxStreams/2)
	require.Error(t, err)
}

func TestTransportPackets(t *testing.T) {
	a, b := newTestTransport(t), newTestTransport(t)
	_, bport := b.boundAddr()
	sent, err := a.WriteToAddress([]byte("hello"), memberlist.Address{Addr: "127.0.0.1:" + strconv.Itoa(bport), Name: "b"})
	require.NoError(t, err)
	select {
	case p := <-b.PacketCh():
		require.Equal(t, "hello", string(p.Buf))
		_, aport := a.boundAddr()
		require.Equal(t, aport, p.From.(*net.UDPAddr).Port, "packets leave from the bound port")
		require.False(t, p.Timestamp.Before(sent.Add(-time.Second)))
	case <-time.After(10 * time.Second):
		t.Fatal("no packet")
	}
	_, err = a.WriteTo([]byte("x"), "not-an-address")
	require.Error(t, err)
}

func TestTransportStreams(t *testing.T) {
	a, b := newTestTransport(t), newTestTransport(t)
	_, bport := b.boundAddr()
	conn, err := a.DialTimeout("127.0.0.1:"+strconv.Itoa(bport), 5*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write([]byte("ping"))
	require.NoError(t, err)
	select {
	case in := <-b.StreamCh():
		buf := make([]byte, 4)
		_, err := io.ReadFull(in, buf)
		require.NoError(t, err)
		require.Equal(t, "ping", string(buf))
		require.NoError(t, in.Close())
	case <-time.After(10 * time.Second):
		t.Fatal("no stream")
	}
}

func TestTransportShutdownClosesEverything(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	a, err := newTransport(netx.Real(), "127.0.0.1:0", testkit.Logger(t), DefaultMaxStreams, DefaultMaxStreams/2)
	require.NoError(t, err)
	b, err := newTransport(netx.Real(), "127.0.0.1:0", testkit.Logger(t), DefaultMaxStreams, DefaultMaxStreams/2)
	require.NoError(t, err)
	_, bport := b.boundAddr()
	addr := "127.0.0.1:" + strconv.Itoa(bport)
	out, err := a.DialTimeout(addr, 5*time.Second)
	require.NoError(t, err)
	in := <-b.StreamCh()

	require.NoError(t, a.Shutdown())
	require.NoError(t, a.Shutdown(), "idempotent")
	// The dialed connection was closed by Shutdown: the far end sees EOF.
	require.NoError(t, in.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err = in.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF)
	_, err = out.Write([]byte("x"))
	require.Error(t, err)
	_, err = a.DialTimeout(addr, time.Second)
	require.Error(t, err, "no dial after shutdown")

	require.NoError(t, b.Shutdown())
	require.NoError(t, findLeaks(5*time.Second, ignore))

	// The port is free again, for TCP and UDP.
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	require.NoError(t, ln.Close())
	pc, err := net.ListenPacket("udp", addr)
	require.NoError(t, err)
	require.NoError(t, pc.Close())
}

func TestTransportAdvertise(t *testing.T) {
	tr := newTestTransport(t)
	_, port := tr.boundAddr()
	ip, p, err := tr.FinalAdvertiseAddr("", 0)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1", ip.String())
	require.Equal(t, port, p)
	ip, p, err = tr.FinalAdvertiseAddr("10.1.2.3", 9000)
	require.NoError(t, err)
	require.Equal(t, "10.1.2.3", ip.String())
	require.Equal(t, 9000, p)
	_, _, err = tr.FinalAdvertiseAddr("bogus", 0)
	require.Error(t, err)

	any, err := newTransport(netx.Real(), "0.0.0.0:0", testkit.Logger(t), DefaultMaxStreams, DefaultMaxStreams/2)
	require.NoError(t, err)
	defer any.Shutdown()
	if ip, _, err := any.FinalAdvertiseAddr("", 0); err == nil {
		require.False(t, ip.IsUnspecified(), "a concrete address is advertised")
	}
}
