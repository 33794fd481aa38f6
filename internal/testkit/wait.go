package testkit

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// PollInterval is how often WaitFor checks its condition.
const PollInterval = 10 * time.Millisecond

// WaitFor polls cond until it holds, failing t after timeout. msgAndArgs
// describe what is awaited: a format string and its arguments, or nothing.
func WaitFor(t testing.TB, timeout time.Duration, cond func() bool, msgAndArgs ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, describe(msgAndArgs))
		}
		time.Sleep(PollInterval)
	}
}

func describe(msgAndArgs []any) string {
	if len(msgAndArgs) == 0 {
		return "a condition"
	}
	if format, ok := msgAndArgs[0].(string); ok {
		return fmt.Sprintf(format, msgAndArgs[1:]...)
	}
	return fmt.Sprint(msgAndArgs...)
}

// Context returns a context cancelled after d or when the test ends.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
