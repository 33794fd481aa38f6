package consensus

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Internal causes of a retryable failure. None of them means the request ran.
var (
	errNoLeaderKnown  = errors.New("consensus: no leader known")
	errLeaderNotReady = errors.New("consensus: leader has not committed its first entry of the term")
)

// retryableError marks a failure after which the request certainly did not
// run, so it may be sent again: no leader known, the leader changed before
// the request reached it, or the request never left this process.
type retryableError struct{ err error }

func (e *retryableError) Error() string { return e.err.Error() }
func (e *retryableError) Unwrap() error { return e.err }

func retryable(err error) error { return &retryableError{err: err} }

// isRetryable reports whether err marks a request that certainly did not run.
func isRetryable(err error) bool {
	var re *retryableError
	return errors.As(err, &re)
}

const (
	retryMinDelay = 2 * time.Millisecond
	retryMaxDelay = 100 * time.Millisecond
)

// retryLoop calls attempt until it returns something other than a
// retryableError, ctx ends or stop is closed. Between attempts it waits with
// exponential backoff, cut short when changed (if non-nil) reports a leader
// change. When ctx ends it returns [ErrNoLeader] wrapping ctx's error and the
// last cause.
func retryLoop(ctx context.Context, stop <-chan struct{}, changed func() <-chan struct{}, attempt func() error) error {
	delay := retryMinDelay
	for {
		var wake <-chan struct{}
		if changed != nil {
			wake = changed()
		}
		err := attempt()
		var re *retryableError
		if !errors.As(err, &re) {
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-wake:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w: %w (last attempt: %v)", ErrNoLeader, ctx.Err(), re.err)
		case <-stop:
			t.Stop()
			return ErrClosed
		}
		t.Stop()
		delay = min(2*delay, retryMaxDelay)
	}
}
