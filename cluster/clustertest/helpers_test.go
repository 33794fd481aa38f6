package clustertest

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testOpts returns the options every test uses: a logger on stderr when
// CONCLAVE_TEST_LOG is set.
func testOpts(t testing.TB, opts ...Option) []Option {
	if os.Getenv("CONCLAVE_TEST_LOG") != "" {
		l := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		opts = append([]Option{WithLogger(l.With("test", t.Name()))}, opts...)
	}
	return opts
}

// ctxT returns a context cancelled after d or at the end of the test.
func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
