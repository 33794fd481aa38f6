package logadapt

import (
	"log/slog"
	"strings"
)

// A Demotion lowers the level of one upstream message that a healthy node
// logs in normal operation (an election at start-up, a graceful leave, a
// shutdown), so that Warn and Error keep meaning "an operator should look".
// It names one message exactly and the condition under which it is benign.
// The packages that run raft and memberlist keep the tables.
type Demotion struct {
	// Logger is the hclog name the message is logged under ("raft",
	// "raft-net"); empty for the lines of a *log.Logger ([StdLogger]).
	Logger string
	// Msg is the message, verbatim; with Prefix, the constant head of a
	// formatted line, as memberlist's are.
	Msg    string
	Prefix bool
	// Level is the level to log the message at instead; a demotion only
	// ever lowers it.
	Level slog.Level
	// When reports whether this call is the benign case; nil means always.
	When func(Call) bool
}

// Call is one upstream log call, as a [Demotion] sees it.
type Call struct {
	// Args are hclog's key/value pairs (With's first); nil for a line.
	Args []any
}

// Arg returns the value logged under key.
func (c Call) Arg(key string) (any, bool) {
	for i := 0; i+1 < len(c.Args); i += 2 {
		if k, ok := c.Args[i].(string); ok && k == key {
			return c.Args[i+1], true
		}
	}
	return nil, false
}

// Err returns the error logged under "error", or nil.
func (c Call) Err() error {
	v, _ := c.Arg("error")
	err, _ := v.(error)
	return err
}

// demote returns the level to log msg at: the first matching demotion's
// when it is lower than level, else level.
func demote(ds []Demotion, logger, msg string, level slog.Level, c Call) slog.Level {
	for _, d := range ds {
		if d.Logger != logger || d.Level >= level {
			continue
		}
		if d.Msg != msg && !(d.Prefix && strings.HasPrefix(msg, d.Msg)) {
			continue
		}
		if d.When == nil || d.When(c) {
			return d.Level
		}
	}
	return level
}
