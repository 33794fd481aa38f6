package testkit

import (
	"bytes"
	"log/slog"
	"os"
	"sync"
	"testing"
)

// LogEnv names the environment variable that turns test logs on.
const LogEnv = "CONCLAVE_TEST_LOG"

// Logger returns the logger for a node under test, with a "test" attribute
// naming t. It discards everything unless CONCLAVE_TEST_LOG is set; then it
// writes to stderr at the level the variable names (debug, info, warn or
// error), or at debug for any other value such as 1.
func Logger(t testing.TB) *slog.Logger {
	v := os.Getenv(LogEnv)
	if v == "" {
		return slog.New(slog.DiscardHandler)
	}
	level := slog.LevelDebug
	var named slog.Level
	if named.UnmarshalText([]byte(v)) == nil {
		level = named
	}
	h := slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})
	return slog.New(h).With("test", t.Name())
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers and readers. Its
// zero value is empty and ready to use.
type SyncBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

// Write appends p to the buffer.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns a copy of the buffer's contents.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
