package rpc

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/testkit"
)

// pipeDialer dials in-memory pipes whose far ends nobody reads, so the
// client's writer blocks on its first flush. Only the first dial succeeds.
type pipeDialer struct {
	mu    sync.Mutex
	peers []net.Conn
}

func (d *pipeDialer) dial(context.Context, string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.peers) > 0 {
		return nil, errors.New("no more pipes")
	}
	near, far := net.Pipe()
	d.peers = append(d.peers, far)
	return near, nil
}

func (d *pipeDialer) closePeers() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range d.peers {
		_ = p.Close()
	}
}

// onlyConn returns the client's single connection to addr, once dialled.
func onlyConn(t *testing.T, c *Client, addr string) *clientConn {
	var cc *clientConn
	testkit.WaitFor(t, 10*time.Second, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if conns := c.pools[addr]; len(conns) == 1 && conns[0].isLive() {
			cc = conns[0]
		}
		return cc != nil
	})
	return cc
}

// startStuckCall starts a call and waits until the writer has taken it and
// is blocked writing it.
func startStuckCall(t *testing.T, c *Client) (*clientConn, chan error) {
	res := make(chan error, 1)
	go func() {
		_, err := c.Call(testkit.Context(t, 20*time.Second), "pipe", methodEcho, []byte("first"))
		res <- err
	}()
	cc := onlyConn(t, c, "pipe")
	testkit.WaitFor(t, 10*time.Second, func() bool {
		cc.mu.Lock()
		defer cc.mu.Unlock()
		for _, cl := range cc.pending {
			if cl.state.Load() == callTaken {
				return true
			}
		}
		return false
	}, "the writer takes the first call")
	return cc, res
}

func queueCall(t *testing.T, c *Client, cc *clientConn, ctx context.Context, queued int) chan error {
	res := make(chan error, 1)
	go func() {
		_, err := c.Call(ctx, "pipe", methodEcho, []byte("queued"))
		res <- err
	}()
	testkit.WaitFor(t, 10*time.Second, func() bool { return len(cc.sendq) == queued }, "the call waits behind the blocked writer")
	return res
}

func TestNotSentWhileQueuedBehindTheWriter(t *testing.T) {
	d := &pipeDialer{}
	defer d.closePeers()
	c := mustClient(t, d.dial, ClientConfig{ConnsPerAddr: 1})
	defer c.Close()
	cc, first := startStuckCall(t, c)

	ctx, cancel := context.WithCancel(context.Background())
	second := queueCall(t, c, cc, ctx, 1)
	cancel()
	err := <-second
	require.ErrorIs(t, err, ErrNotSent, "a cancelled call the writer never took was not sent")
	require.ErrorIs(t, err, context.Canceled)

	third := queueCall(t, c, cc, context.Background(), 2)
	require.NoError(t, c.Close())
	err = <-third
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, err, ErrNotSent, "Close before the writer took it")
	err = <-first
	require.ErrorIs(t, err, ErrClosed)
	require.NotErrorIs(t, err, ErrNotSent, "the writer had started writing it")
}

func TestNotSentWhenConnectionBreaksBeforeWriting(t *testing.T) {
	d := &pipeDialer{}
	c := mustClient(t, d.dial, ClientConfig{ConnsPerAddr: 1})
	defer c.Close()
	cc, first := startStuckCall(t, c)
	queued := queueCall(t, c, cc, testkit.Context(t, 20*time.Second), 1)

	d.closePeers() // the writer's blocked write fails
	err := <-first
	require.ErrorIs(t, err, ErrConnLost)
	require.NotErrorIs(t, err, ErrNotSent, "a partly written request is ambiguous")

	// The queued call was never written: it is retried on a fresh
	// connection, whose dial fails, so it is certainly not sent.
	err = <-queued
	require.ErrorIs(t, err, ErrNotSent)
	require.ErrorContains(t, err, "no more pipes")
}

func TestTimeoutMillis(t *testing.T) {
	require.Zero(t, timeoutMillis(context.Background()))
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	ms := timeoutMillis(ctx)
	require.Greater(t, ms, uint32(1000))
	require.LessOrEqual(t, ms, uint32(1500))
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	require.EqualValues(t, 1, timeoutMillis(expired))
}
