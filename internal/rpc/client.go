package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/conclave-go/conclave/internal/logadapt"
)

// Client calls servers over pooled, pipelined connections: per address it
// keeps up to ConnsPerAddr connections, each shared by any number of
// concurrent calls (one writer, one reader matching replies to requests by
// id). A broken connection fails its calls and is replaced on a later Call.
type Client struct {
	dial func(ctx context.Context, addr string) (net.Conn, error)
	cfg  ClientConfig
	log  *slog.Logger

	ctx    context.Context // parent of every dial; cancelled by Close
	cancel context.CancelFunc

	mu         sync.Mutex // guards pools, dialFailed and closed
	pools      map[string][]*clientConn
	dialFailed map[string]time.Time // last failed dial per address
	closed     bool

	wg        sync.WaitGroup // dial, reader and writer goroutines
	closeOnce sync.Once
}

// NewClient returns a client opening connections with dial, which must
// return a connection ready for frames (for a mux, one built on [DialByte])
// and honour ctx, or an error when dial is nil or cfg is invalid (see
// [ClientConfig.Validate]).
func NewClient(dial func(ctx context.Context, addr string) (net.Conn, error), cfg ClientConfig) (*Client, error) {
	if dial == nil {
		return nil, errors.New("rpc: NewClient: dial is nil")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Client{
		dial:       dial,
		cfg:        cfg.withDefaults(),
		log:        logadapt.OrDiscard(cfg.Logger),
		ctx:        ctx,
		cancel:     cancel,
		pools:      make(map[string][]*clientConn),
		dialFailed: make(map[string]time.Time),
	}, nil
}

// Call sends req to method at addr and waits for the reply or for ctx to
// end. ctx's deadline travels with the request, so the server's handler
// stops when the caller stops waiting.
//
// Errors: a handler's error is a *RemoteError. An error matching
// [ErrNotSent] guarantees the request never left this process (safe to
// retry); it also matches its cause (ctx's error, [ErrClosed],
// [ErrFrameTooLarge], the dial error). Any other error — the connection
// broke ([ErrConnLost]), ctx ended while waiting for the reply, the client
// was closed ([ErrClosed]) — leaves the outcome unknown. A request that lost
// its connection before being written is retried once on a fresh one.
func (c *Client) Call(ctx context.Context, addr string, method uint8, req []byte) ([]byte, error) {
	if len(req) > c.cfg.MaxFrame {
		return nil, notSent(fmt.Errorf("%w: request of %d bytes, limit %d", ErrFrameTooLarge, len(req), c.cfg.MaxFrame))
	}
	for attempt := 0; ; attempt++ {
		resp, err := c.try(ctx, addr, method, req)
		retry := attempt == 0 && ctx.Err() == nil &&
			errors.Is(err, ErrNotSent) && errors.Is(err, ErrConnLost)
		if !retry {
			return resp, err
		}
	}
}

func (c *Client) try(ctx context.Context, addr string, method uint8, req []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, notSent(err)
	}
	cc, err := c.conn(ctx, addr)
	if err != nil {
		return nil, err
	}
	return cc.call(ctx, method, req)
}

// errClosedByCaller fails the calls in flight on a connection CloseAddr
// closed: the caller's decision, not a fault.
var errClosedByCaller = fmt.Errorf("%w: closed by CloseAddr", ErrConnLost)

// CloseAddr closes the pooled connections to addr. Their calls in flight
// fail with ErrConnLost; the next Call to addr dials again.
func (c *Client) CloseAddr(addr string) {
	c.mu.Lock()
	conns := c.pools[addr]
	delete(c.pools, addr)
	c.mu.Unlock()
	for _, cc := range conns {
		cc.fail(errClosedByCaller)
	}
}

// Close closes every connection, failing calls in flight with ErrClosed
// (and ErrNotSent for those not yet written), and waits for the client's
// goroutines. Later Calls fail with ErrClosed and ErrNotSent. Close is
// idempotent and always returns nil.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		var all []*clientConn
		for _, conns := range c.pools {
			all = append(all, conns...)
		}
		c.pools = make(map[string][]*clientConn)
		c.mu.Unlock()
		c.cancel()
		for _, cc := range all {
			cc.fail(ErrClosed)
		}
		c.wg.Wait()
	})
	return nil
}

// conn returns a connection to addr ready for calls, dialling one when
// there is none.
func (c *Client) conn(ctx context.Context, addr string) (*clientConn, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, notSent(ErrClosed)
	}
	best, dialing := c.pick(addr)
	if best != nil {
		c.mu.Unlock()
		return best, nil
	}
	if dialing == nil {
		dialing = c.startDial(addr)
	}
	c.mu.Unlock()

	select {
	case <-dialing.ready:
	case <-dialing.dead:
		return nil, notSent(dialing.err())
	case <-ctx.Done():
		return nil, notSent(fmt.Errorf("rpc: dial %s: %w", addr, ctx.Err()))
	}
	if dialing.dialErr != nil {
		return nil, notSent(dialing.dialErr)
	}
	return dialing, nil
}

// pick returns the least loaded live connection to addr and a connection
// being dialled, if any. When every live connection is busy and the pool has
// room, it starts dialling another in the background. c.mu must be held.
func (c *Client) pick(addr string) (best, dialing *clientConn) {
	conns := c.pools[addr]
	for _, cc := range conns {
		switch {
		case cc.isDialing():
			dialing = cc
		case cc.isLive():
			if best == nil || cc.load() < best.load() {
				best = cc
			}
		}
	}
	if best != nil && best.load() > 0 && dialing == nil && len(conns) < c.cfg.ConnsPerAddr &&
		time.Since(c.dialFailed[addr]) > extraDialBackoff {
		c.startDial(addr)
	}
	return best, dialing
}

// extraDialBackoff is how long after a failed dial to an address no extra
// connection is dialled in the background while one is already usable.
const extraDialBackoff = time.Second

// noteDial records the outcome of a dial to addr.
func (c *Client) noteDial(addr string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.dialFailed[addr] = time.Now()
	} else {
		delete(c.dialFailed, addr)
	}
}

// startDial adds a connection to addr's pool and dials it in the
// background. c.mu must be held.
func (c *Client) startDial(addr string) *clientConn {
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.DialTimeout)
	cc := newClientConn(c, addr, cancel)
	c.pools[addr] = append(c.pools[addr], cc)
	c.wg.Add(1)
	go cc.dialAndRun(ctx)
	return cc
}

// remove drops cc from its pool.
func (c *Client) remove(cc *clientConn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	conns := c.pools[cc.addr]
	for i, x := range conns {
		if x == cc {
			conns = append(conns[:i:i], conns[i+1:]...)
			break
		}
	}
	if len(conns) == 0 {
		delete(c.pools, cc.addr)
	} else {
		c.pools[cc.addr] = conns
	}
}
