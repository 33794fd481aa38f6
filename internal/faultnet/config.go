package faultnet

import (
	"fmt"
	"log/slog"
	"time"
)

const (
	// DefaultRetransmitTimeout is the delay a stream segment suffers when the
	// loss model decides it was lost; see [Config.RetransmitTimeout].
	DefaultRetransmitTimeout = 200 * time.Millisecond
	// DefaultStreamBuffer is the default of [Config.StreamBuffer].
	DefaultStreamBuffer = 4 << 20
)

// Config configures a [Network]. The zero value is valid; [DefaultConfig]
// spells out what the zero fields mean.
type Config struct {
	// Seed seeds the random source behind loss and jitter decisions. The same
	// seed and the same sequence of sends give the same decisions.
	Seed int64

	// Logger receives one record for every fault change and every kill, so a
	// failing test shows what was injected and when. Nil discards.
	Logger *slog.Logger

	// RetransmitTimeout is how much later a stream write (or read) arrives
	// when the loss model decides it was lost: TCP never loses bytes, it
	// resends them after a retransmission timeout. Zero means
	// DefaultRetransmitTimeout. Must not be negative.
	RetransmitTimeout time.Duration

	// StreamBuffer bounds, in bytes, what one direction of a dialed
	// connection may hold while it is delayed or stalled. A Write blocks
	// (until its deadline) when the buffer is full, like a full TCP window.
	// Zero means DefaultStreamBuffer. Must not be negative.
	StreamBuffer int
}

// DefaultConfig returns the configuration [New] uses: seed 1, no logger,
// DefaultRetransmitTimeout and DefaultStreamBuffer.
func DefaultConfig() Config {
	return Config{
		Seed:              1,
		RetransmitTimeout: DefaultRetransmitTimeout,
		StreamBuffer:      DefaultStreamBuffer,
	}
}

// validate reports the first invalid field.
func (c Config) validate() error {
	if c.RetransmitTimeout < 0 {
		return fmt.Errorf("faultnet: Config.RetransmitTimeout is %v; must be >= 0", c.RetransmitTimeout)
	}
	if c.StreamBuffer < 0 {
		return fmt.Errorf("faultnet: Config.StreamBuffer is %d; must be >= 0", c.StreamBuffer)
	}
	return nil
}

// withDefaults replaces zero fields by their defaults.
func (c Config) withDefaults() Config {
	if c.RetransmitTimeout == 0 {
		c.RetransmitTimeout = DefaultRetransmitTimeout
	}
	if c.StreamBuffer == 0 {
		c.StreamBuffer = DefaultStreamBuffer
	}
	return c
}
