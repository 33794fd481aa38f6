package consensus

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/conclave-go/conclave/internal/logadapt"
	"github.com/conclave-go/conclave/internal/netx"
)

// ClientConfig configures a [Client].
type ClientConfig struct {
	// Network opens connections. Nil means the operating system's network.
	Network netx.Network
	// TLS is the client side of the servers' mutual TLS (a certificate from
	// the servers' authority, verifying theirs). Nil means plaintext.
	TLS *tls.Config
	// MaxMessageSize bounds commands, queries and results, in bytes; it
	// should match the servers'. Zero means [DefaultMaxMessageSize].
	MaxMessageSize int
	// Logger receives the client's logs. Nil discards them.
	Logger *slog.Logger
}

func (c ClientConfig) validate() error {
	if c.MaxMessageSize != 0 && (c.MaxMessageSize < minMessageSize || c.MaxMessageSize > maxMessageSizeLimit) {
		return configError("MaxMessageSize", c.MaxMessageSize, "0 (default) or %d to %d bytes", minMessageSize, maxMessageSizeLimit)
	}
	return nil
}

// Client sends writes and queries to a group from a process that is not a
// server (it has no state machine): each call names a server, which forwards
// to its leader when it is not the leader itself. The client learns which
// server leads (see [Client.LeaderAddr]); writes named to that server go in
// batches, as a follower's forwarded writes do. Its methods are safe for
// concurrent use.
type Client struct {
	remote  *remote
	fwd     *forwarder
	leader  *leaderHint
	maxSize int

	closeOnce sync.Once
	closing   chan struct{}
	stop      context.CancelFunc // ends the leader hint's questions
}

// NewClient validates cfg and returns a client. Connections are opened on
// first use and pooled per server.
func NewClient(cfg ClientConfig) (*Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.MaxMessageSize == 0 {
		cfg.MaxMessageSize = DefaultMaxMessageSize
	}
	r, err := newRemote(cfg.Network, cfg.TLS, cfg.MaxMessageSize, logadapt.OrDiscard(cfg.Logger))
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	return &Client{
		remote:  r,
		fwd:     newForwarder(r, cfg.MaxMessageSize),
		leader:  newLeaderHint(ctx, r),
		maxSize: cfg.MaxMessageSize,
		closing: make(chan struct{}),
		stop:    stop,
	}, nil
}

// Apply sends cmd to the server at serverAddr, which applies it through its
// leader, waiting for one until ctx ends. When serverAddr is the leader the
// client knows of ([Client.LeaderAddr]), the write joins the batch of writes
// to it (one request carries the writes that arrive while the previous one
// is in flight); should that server no longer lead, the write is sent again
// on its own, and the server forwards it. Errors are those of [Node.Apply],
// plus [ErrUnavailable] when the request certainly did not run (the server
// could not be reached, or is closing): the caller may try another server.
func (c *Client) Apply(ctx context.Context, serverAddr string, cmd []byte) ([]byte, error) {
	if len(cmd) > c.maxSize {
		return nil, fmt.Errorf("%w: command of %d bytes, MaxMessageSize is %d", ErrTooLarge, len(cmd), c.maxSize)
	}
	if err := c.open(); err != nil {
		return nil, err
	}
	if serverAddr == c.leader.get() {
		res, err := c.fwd.apply(ctx, serverAddr, cmd)
		if !staleLeader(err) {
			return res, err
		}
		c.leader.forget(serverAddr)
		if !isRetryable(err) {
			return res, err // it may have run: never sent again
		}
	} else {
		c.leader.learn(serverAddr)
	}
	res, err := c.remote.apply(ctx, serverAddr, false, cmd)
	return res, unavailable(err)
}

// LeaderAddr returns the address of the server the client last learned
// leads, or "" when it knows of none. The client asks the server a write
// names when it knows no leader (and at most once a second when it knows
// one but the write names another server), and forgets the one it knows
// when a write to it finds it no longer leads or cannot be reached.
// Sending writes to this address saves the hop through a follower.
func (c *Client) LeaderAddr() string { return c.leader.get() }

// Query sends q to the server at serverAddr, answered at level: [Stale] by
// that server, [Leader] by its leader, [Linearizable] by that server once it
// has caught up with its leader's commit index.
func (c *Client) Query(ctx context.Context, serverAddr string, level ReadLevel, q []byte) ([]byte, error) {
	if len(q) > c.maxSize {
		return nil, fmt.Errorf("%w: query of %d bytes, MaxMessageSize is %d", ErrTooLarge, len(q), c.maxSize)
	}
	if !level.valid() {
		return nil, fmt.Errorf("consensus: unknown read level %v", level)
	}
	if err := c.open(); err != nil {
		return nil, err
	}
	res, err := c.remote.query(ctx, serverAddr, false, level, q)
	return res, unavailable(err)
}

// Status asks the server at serverAddr for its [Status].
func (c *Client) Status(ctx context.Context, serverAddr string) (Status, error) {
	if err := c.open(); err != nil {
		return Status{}, err
	}
	s, err := c.remote.status(ctx, serverAddr)
	return s, unavailable(err)
}

func (c *Client) open() error {
	select {
	case <-c.closing:
		return ErrClosed
	default:
		return nil
	}
}

// unavailable turns a retryable failure into one matching [ErrUnavailable]:
// the request did not run, and may be sent again, here or elsewhere.
func unavailable(err error) error {
	var re *retryableError
	if errors.As(err, &re) {
		return fmt.Errorf("%w: %w", ErrUnavailable, re.err)
	}
	return err
}

// Close closes the client's connections; calls in flight fail. It is
// idempotent.
func (c *Client) Close() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.closing)
		c.stop()
		err = c.remote.close()
		c.fwd.close()
		c.leader.wait()
	})
	return err
}
