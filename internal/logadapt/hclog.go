package logadapt

import (
	"context"
	"io"
	"log"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// Hclog returns an hclog.Logger that writes to l. hclog's levels map to slog's
// (Trace to [LevelTrace]); key/value arguments become slog attributes, except
// that a key Conclave's loggers already carry ("node", "component") is
// renamed with the logger's name as prefix ("raft-node"). A message that one
// of demotions matches is logged at that demotion's level.
func Hclog(l *slog.Logger, demotions []Demotion) hclog.Logger {
	return &hclogAdapter{logger: OrDiscard(l), demotions: demotions}
}

type hclogAdapter struct {
	logger    *slog.Logger
	name      string
	args      []interface{}
	demotions []Demotion
}

// reserved are the attribute keys Conclave's own loggers set.
var reserved = map[string]bool{"node": true, "component": true}

var _ hclog.Logger = (*hclogAdapter)(nil)

// hclogLevels are hclog's levels, most verbose first.
var hclogLevels = []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error}

func toSlog(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace:
		return LevelTrace
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

func (a *hclogAdapter) Log(level hclog.Level, msg string, args ...interface{}) {
	if level == hclog.Off {
		return
	}
	sl := toSlog(level)
	if !enabled(a.logger, sl) {
		return // a demotion only lowers the level
	}
	all := make([]any, 0, len(a.args)+len(args))
	all = append(all, a.args...)
	all = append(all, args...)
	if sl = demote(a.demotions, a.name, msg, sl, Call{Args: all}); !enabled(a.logger, sl) {
		return
	}
	a.logger.Log(context.Background(), sl, msg, a.renameReserved(all)...)
}

// renameReserved prefixes the keys in args that Conclave's loggers set
// themselves, so that a record carries each of them once.
func (a *hclogAdapter) renameReserved(args []any) []any {
	prefix := a.name
	if prefix == "" {
		prefix = "upstream"
	}
	for i := 0; i+1 < len(args); i += 2 {
		if k, ok := args[i].(string); ok && reserved[k] {
			args[i] = prefix + "-" + k
		}
	}
	return args
}

func (a *hclogAdapter) Trace(msg string, args ...interface{}) { a.Log(hclog.Trace, msg, args...) }
func (a *hclogAdapter) Debug(msg string, args ...interface{}) { a.Log(hclog.Debug, msg, args...) }
func (a *hclogAdapter) Info(msg string, args ...interface{})  { a.Log(hclog.Info, msg, args...) }
func (a *hclogAdapter) Warn(msg string, args ...interface{})  { a.Log(hclog.Warn, msg, args...) }
func (a *hclogAdapter) Error(msg string, args ...interface{}) { a.Log(hclog.Error, msg, args...) }

func (a *hclogAdapter) IsTrace() bool { return enabled(a.logger, LevelTrace) }
func (a *hclogAdapter) IsDebug() bool { return enabled(a.logger, slog.LevelDebug) }
func (a *hclogAdapter) IsInfo() bool  { return enabled(a.logger, slog.LevelInfo) }
func (a *hclogAdapter) IsWarn() bool  { return enabled(a.logger, slog.LevelWarn) }
func (a *hclogAdapter) IsError() bool { return enabled(a.logger, slog.LevelError) }

func (a *hclogAdapter) ImpliedArgs() []interface{} { return a.args }

func (a *hclogAdapter) With(args ...interface{}) hclog.Logger {
	c := *a
	c.args = append(append([]interface{}{}, a.args...), args...)
	return &c
}

func (a *hclogAdapter) Name() string { return a.name }

func (a *hclogAdapter) Named(name string) hclog.Logger {
	if a.name != "" {
		name = a.name + "." + name
	}
	return a.ResetNamed(name)
}

func (a *hclogAdapter) ResetNamed(name string) hclog.Logger {
	c := *a
	c.name = name
	c.logger = a.logger.With("logger", name)
	return &c
}

// SetLevel is a no-op: the slog handler owns the level.
func (a *hclogAdapter) SetLevel(hclog.Level) {}

// GetLevel reports the most verbose hclog level the slog handler emits.
func (a *hclogAdapter) GetLevel() hclog.Level {
	for _, l := range hclogLevels {
		if enabled(a.logger, toSlog(l)) {
			return l
		}
	}
	return hclog.Off
}

func (a *hclogAdapter) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	return StdLogger(a.logger, nil)
}

func (a *hclogAdapter) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return &lineWriter{logger: a.logger}
}
