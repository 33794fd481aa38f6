package testkit

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fatalT records Fatalf instead of stopping the test.
type fatalT struct {
	testing.TB
	msg string
}

func (f *fatalT) Helper() {}

func (f *fatalT) Fatalf(format string, args ...any) { f.msg = fmt.Sprintf(format, args...) }

func TestWaitForReturnsOnceTrue(t *testing.T) {
	var n atomic.Int32
	WaitFor(t, 10*time.Second, func() bool { return n.Add(1) == 3 }, "three polls")
	require.Equal(t, int32(3), n.Load())
}

func TestWaitForFailsAfterTimeout(t *testing.T) {
	for _, c := range []struct {
		args []any
		want string
	}{
		{nil, "waiting for a condition"},
		{[]any{"%d members", 3}, "waiting for 3 members"},
	} {
		ft := &fatalT{TB: t}
		WaitFor(ft, time.Millisecond, func() bool { return ft.msg != "" }, c.args...)
		require.True(t, strings.HasPrefix(ft.msg, "timed out after 1ms"), ft.msg)
		require.Contains(t, ft.msg, c.want)
	}
}

func TestContextEndsWithTheTest(t *testing.T) {
	var ctx context.Context
	t.Run("inner", func(t *testing.T) {
		ctx = Context(t, time.Hour)
		_, ok := ctx.Deadline()
		require.True(t, ok)
		require.NoError(t, ctx.Err())
	})
	require.ErrorIs(t, ctx.Err(), context.Canceled)
}

func TestLoggerIsSilentByDefault(t *testing.T) {
	t.Setenv(LogEnv, "")
	l := Logger(t)
	require.False(t, l.Enabled(context.Background(), slog.LevelError+4))
}

func TestLoggerHonoursTheLevel(t *testing.T) {
	t.Setenv(LogEnv, "warn")
	l := Logger(t)
	require.False(t, l.Enabled(context.Background(), slog.LevelDebug))
	require.True(t, l.Enabled(context.Background(), slog.LevelWarn))
	t.Setenv(LogEnv, "1")
	require.True(t, Logger(t).Enabled(context.Background(), slog.LevelDebug), "any other value means debug")
}

func TestSyncBufferConcurrentWriters(t *testing.T) {
	var b SyncBuffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, _ = b.Write([]byte("x"))
				_ = b.String()
			}
		})
	}
	wg.Wait()
	require.Equal(t, strings.Repeat("x", 800), b.String())
}
