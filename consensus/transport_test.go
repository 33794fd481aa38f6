package consensus

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
)

// A pooled connection that the server closed while it sat unused is
// replaced before raft's next request goes out on it, so the request is not
// lost to the dead connection.
func TestPooledConnectionRedialsWhenClosedByServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedFirst := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		first, err := ln.Accept()
		if err != nil {
			return
		}
		_ = first.Close() // as the server's idle timeout does
		close(closedFirst)
		second, err := ln.Accept()
		if err != nil {
			return
		}
		defer second.Close()
		_, _ = io.CopyN(second, second, 4) // echo one request
	}()
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })

	var dials atomic.Int32
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		dials.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	layer := newStreamLayer(ln, advertisedAddr(ln.Addr().String()), dial)
	c, err := layer.Dial(raft.ServerAddress(ln.Addr().String()), 5*time.Second)
	require.NoError(t, err)
	defer c.Close()
	<-closedFirst
	c.(*trackedConn).lastUse.Store(0) // unused for long

	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = c.Write([]byte("ping"))
	require.NoError(t, err)
	got := make([]byte, 4)
	_, err = io.ReadFull(c, got)
	require.NoError(t, err)
	require.Equal(t, "ping", string(got))
	require.EqualValues(t, 2, dials.Load(), "redialled once")
}
