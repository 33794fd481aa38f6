package rpc

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"time"
)

// Defaults applied to zero config fields.
const (
	DefaultMaxInFlight   = 256
	DefaultConnsPerAddr  = 2
	DefaultDialTimeout   = 10 * time.Second
	DefaultHeaderTimeout = 10 * time.Second
	DefaultMaxPending    = 512
	DefaultIdleTimeout   = 2 * time.Minute
	DefaultMaxConns      = 1024
)

// Upper bounds accepted by Validate.
const (
	maxInFlightLimit  = 1 << 16
	connsPerAddrLimit = 64
	maxPendingLimit   = 1 << 20
	maxConnsLimit     = 1 << 20
)

// MuxConfig configures a [Mux]. The zero value is valid: plaintext, no
// logging, default limits.
type MuxConfig struct {
	// TLS, when non-nil, makes the mux complete a server-side TLS handshake
	// on every connection before reading its protocol byte. Set ClientAuth to
	// tls.RequireAndVerifyClientCert for mutual TLS (see [MutualTLS]).
	TLS *tls.Config
	// Logger receives the reason every refused connection was closed. nil
	// discards.
	Logger *slog.Logger
	// HeaderTimeout bounds the TLS handshake plus the read of the protocol
	// byte, and separately the wait for the protocol's listener to accept
	// the connection. 0 means DefaultHeaderTimeout.
	HeaderTimeout time.Duration
	// MaxPending bounds the connections being handshaken or routed at once;
	// connections beyond it are closed at once. 0 means DefaultMaxPending.
	MaxPending int
	// IdleTimeout closes a connection past its protocol byte after this long
	// without a byte read or written while no request on it is being served
	// (see [BusyMarker]). Its owner reads the close as the end of the stream.
	// A connection is handed to its protocol listener only with its first
	// request, so one that never sends one costs no more than a goroutine
	// until then. 0 means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// MaxConns bounds the open connections past their protocol byte. A
	// connection beyond it displaces the one idle the longest (if idle for
	// at least a second), or else is closed at once. Refusals and evictions
	// are counted in [Mux.Stats] and logged at most once per 10 s.
	// 0 means DefaultMaxConns.
	MaxConns int
	// MaxConnsPerIP bounds the open connections past their protocol byte
	// from one remote IP address, so that one source cannot take every slot
	// of MaxConns. A connection beyond it displaces that address's
	// connection idle the longest (as at MaxConns), or else is refused.
	// 0 means half of MaxConns; at most MaxConns.
	MaxConnsPerIP int
}

// DefaultMuxConfig returns a MuxConfig with every default filled in.
func DefaultMuxConfig() MuxConfig {
	return MuxConfig{HeaderTimeout: DefaultHeaderTimeout, MaxPending: DefaultMaxPending, IdleTimeout: DefaultIdleTimeout, MaxConns: DefaultMaxConns, MaxConnsPerIP: DefaultMaxConns / 2}
}

// Validate reports the first field holding a value outside what is allowed.
func (c MuxConfig) Validate() error {
	if c.HeaderTimeout < 0 {
		return fmt.Errorf("rpc: MuxConfig.HeaderTimeout is %v, must be >= 0 (0 = default %v)", c.HeaderTimeout, DefaultHeaderTimeout)
	}
	if c.MaxPending < 0 || c.MaxPending > maxPendingLimit {
		return fmt.Errorf("rpc: MuxConfig.MaxPending is %d, must be in [0, %d] (0 = default %d)", c.MaxPending, maxPendingLimit, DefaultMaxPending)
	}
	if c.IdleTimeout < 0 {
		return fmt.Errorf("rpc: MuxConfig.IdleTimeout is %v, must be >= 0 (0 = default %v)", c.IdleTimeout, DefaultIdleTimeout)
	}
	if c.MaxConns < 0 || c.MaxConns > maxConnsLimit {
		return fmt.Errorf("rpc: MuxConfig.MaxConns is %d, must be in [0, %d] (0 = default %d)", c.MaxConns, maxConnsLimit, DefaultMaxConns)
	}
	if c.MaxConnsPerIP < 0 || c.MaxConnsPerIP > c.withDefaults().MaxConns {
		return fmt.Errorf("rpc: MuxConfig.MaxConnsPerIP is %d, must be in [0, MaxConns] (0 = half of MaxConns)", c.MaxConnsPerIP)
	}
	return nil
}

func (c MuxConfig) withDefaults() MuxConfig {
	if c.HeaderTimeout == 0 {
		c.HeaderTimeout = DefaultHeaderTimeout
	}
	if c.MaxPending == 0 {
		c.MaxPending = DefaultMaxPending
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxConns == 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.MaxConnsPerIP == 0 {
		c.MaxConnsPerIP = max(c.MaxConns/2, 1)
	}
	return c
}

// ServerConfig configures a [Server]. The zero value is valid.
type ServerConfig struct {
	// MaxFrame bounds a request payload in bytes; a larger request closes
	// the connection, and a larger response is replaced by a CodeTooLarge
	// error. 0 means DefaultMaxFrame (64 MiB); at most MaxFrameLimit.
	MaxFrame int
	// MaxInFlight bounds the requests handled at once on one connection;
	// the connection is not read further while the bound is reached.
	// 0 means DefaultMaxInFlight (256).
	MaxInFlight int
	// Logger receives connection errors and handler panics. nil discards.
	Logger *slog.Logger
}

// DefaultServerConfig returns a ServerConfig with every default filled in.
func DefaultServerConfig() ServerConfig {
	return ServerConfig{MaxFrame: DefaultMaxFrame, MaxInFlight: DefaultMaxInFlight}
}

// Validate reports the first field holding a value outside what is allowed.
func (c ServerConfig) Validate() error {
	if err := validateMaxFrame("ServerConfig", c.MaxFrame); err != nil {
		return err
	}
	if c.MaxInFlight < 0 || c.MaxInFlight > maxInFlightLimit {
		return fmt.Errorf("rpc: ServerConfig.MaxInFlight is %d, must be in [0, %d] (0 = default %d)", c.MaxInFlight, maxInFlightLimit, DefaultMaxInFlight)
	}
	return nil
}

func (c ServerConfig) withDefaults() ServerConfig {
	if c.MaxFrame == 0 {
		c.MaxFrame = DefaultMaxFrame
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	return c
}

// ClientConfig configures a [Client]. The zero value is valid.
type ClientConfig struct {
	// MaxFrame bounds request and response payloads in bytes. A larger
	// request fails locally (ErrNotSent); a larger response breaks the
	// connection. 0 means DefaultMaxFrame (64 MiB); at most MaxFrameLimit.
	MaxFrame int
	// ConnsPerAddr is how many pipelined connections are kept per address.
	// 0 means DefaultConnsPerAddr (2).
	ConnsPerAddr int
	// DialTimeout bounds one dial (including any TLS handshake), whatever
	// the callers' contexts allow. 0 means DefaultDialTimeout (10 s).
	DialTimeout time.Duration
	// Logger receives connection errors. nil discards.
	Logger *slog.Logger
}

// DefaultClientConfig returns a ClientConfig with every default filled in.
func DefaultClientConfig() ClientConfig {
	return ClientConfig{MaxFrame: DefaultMaxFrame, ConnsPerAddr: DefaultConnsPerAddr, DialTimeout: DefaultDialTimeout}
}

// Validate reports the first field holding a value outside what is allowed.
func (c ClientConfig) Validate() error {
	if err := validateMaxFrame("ClientConfig", c.MaxFrame); err != nil {
		return err
	}
	if c.ConnsPerAddr < 0 || c.ConnsPerAddr > connsPerAddrLimit {
		return fmt.Errorf("rpc: ClientConfig.ConnsPerAddr is %d, must be in [0, %d] (0 = default %d)", c.ConnsPerAddr, connsPerAddrLimit, DefaultConnsPerAddr)
	}
	if c.DialTimeout < 0 {
		return fmt.Errorf("rpc: ClientConfig.DialTimeout is %v, must be >= 0 (0 = default %v)", c.DialTimeout, DefaultDialTimeout)
	}
	return nil
}

func (c ClientConfig) withDefaults() ClientConfig {
	if c.MaxFrame == 0 {
		c.MaxFrame = DefaultMaxFrame
	}
	if c.ConnsPerAddr == 0 {
		c.ConnsPerAddr = DefaultConnsPerAddr
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	return c
}

func validateMaxFrame(owner string, v int) error {
	if v < 0 || v > MaxFrameLimit {
		return fmt.Errorf("rpc: %s.MaxFrame is %d, must be in [0, %d] (0 = default %d)", owner, v, MaxFrameLimit, DefaultMaxFrame)
	}
	return nil
}
