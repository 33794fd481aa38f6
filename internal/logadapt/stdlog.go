package logadapt

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"strings"
)

// LevelTrace is the slog level used for hclog's Trace, one step below Debug.
const LevelTrace = slog.LevelDebug - 4

// prefixes maps the bracketed level markers used by memberlist (and by
// HashiCorp libraries in general) to slog levels.
var prefixes = []struct {
	marker string
	level  slog.Level
}{
	{"[TRACE]", LevelTrace},
	{"[DEBUG]", slog.LevelDebug},
	{"[INFO]", slog.LevelInfo},
	{"[WARN]", slog.LevelWarn},
	{"[ERR]", slog.LevelError},
	{"[ERROR]", slog.LevelError},
}

// StdLogger returns a *log.Logger whose output goes to l. Each line's leading
// level marker ("[DEBUG]", "[WARN]", "[ERR]", ...) selects the slog level and
// is stripped; a line without a marker is logged at Info.
// A line that one of demotions (with an empty Logger) matches, its marker
// and component prefix stripped, is logged at that demotion's level.
func StdLogger(l *slog.Logger, demotions []Demotion) *log.Logger {
	return log.New(&lineWriter{logger: OrDiscard(l), demotions: demotions}, "", 0)
}

// lineWriter turns each Write from a *log.Logger (one whole line per call)
// into one slog record.
type lineWriter struct {
	logger    *slog.Logger
	demotions []Demotion
}

func (w *lineWriter) Write(p []byte) (int, error) {
	level, msg := parseLine(string(bytes.TrimRight(p, "\r\n")))
	level = demote(w.demotions, "", msg, level, Call{})
	if enabled(w.logger, level) {
		w.logger.Log(context.Background(), level, msg)
	}
	return len(p), nil
}

// parseLine splits a level marker off the front of line. It also drops a
// "memberlist: " style component prefix, which slog attributes already carry.
func parseLine(line string) (slog.Level, string) {
	level := slog.LevelInfo
	trimmed := strings.TrimSpace(line)
	for _, p := range prefixes {
		if strings.HasPrefix(trimmed, p.marker) {
			level = p.level
			trimmed = strings.TrimSpace(trimmed[len(p.marker):])
			break
		}
	}
	trimmed = strings.TrimPrefix(trimmed, "memberlist: ")
	return level, trimmed
}
