package rpc

import (
	"context"
	"errors"
	"fmt"
)

// Sentinel errors. Match them with errors.Is; the errors this package returns
// wrap them together with their cause.
var (
	// ErrClosed reports that the Client, Server or Mux was closed.
	ErrClosed = errors.New("rpc: closed")

	// ErrNotSent is matched by an error from [Client.Call] when the request
	// certainly never left this process: the dial failed, ctx was done before
	// the frame was handed to the connection, the connection broke before its
	// writer took the request, the client was closed first, or the request was
	// refused locally (too large). Such a call is safe
	// to retry. Every failure after the writer took the request is ambiguous
	// (the server may have executed it) and never matches ErrNotSent.
	ErrNotSent = errors.New("rpc: request not sent")

	// ErrConnLost is matched when the connection carrying a call broke (peer
	// closed it, read or write error, protocol violation, CloseAddr) before
	// the reply arrived.
	ErrConnLost = errors.New("rpc: connection lost")

	// ErrFrameTooLarge is matched when a frame exceeds the configured limit,
	// on either side.
	ErrFrameTooLarge = errors.New("rpc: frame too large")

	// ErrBadFrame is matched when a frame header is malformed or the stream
	// ends inside a frame.
	ErrBadFrame = errors.New("rpc: bad frame")

	// ErrListenerInUse is returned by Accept on a listener obtained from
	// [Mux.Listen] for a protocol byte that already had an open listener.
	ErrListenerInUse = errors.New("rpc: protocol byte already has a listener")
)

// Error codes reserved by this package. Protocols built on rpc define their
// own codes from [CodeFirstUser] upward; 0..15 belong to rpc.
const (
	// CodeInternal is the code of a handler error that carried no code of its
	// own, and of a handler that panicked.
	CodeInternal uint16 = 1
	// CodeUnknownMethod is for handlers that receive a method they do not
	// implement.
	CodeUnknownMethod uint16 = 2
	// CodeTooLarge reports that the handler's response exceeded the server's
	// MaxFrame and was not sent.
	CodeTooLarge uint16 = 3
	// CodeDeadlineExceeded reports that the handler failed with
	// context.DeadlineExceeded: the caller's deadline, which travels with
	// the request, passed while the server worked. Like any deadline
	// failure the outcome is unknown. Such a *RemoteError matches
	// context.DeadlineExceeded.
	CodeDeadlineExceeded uint16 = 4
	// CodeFirstUser is the first code free for protocols built on rpc.
	CodeFirstUser uint16 = 16
)

// maxErrorMessage bounds the message of an error frame, in bytes.
const maxErrorMessage = 64 << 10

// RemoteError is an error returned by the server's handler, as received by
// the caller. Its presence means the server received and handled the
// request.
type RemoteError struct {
	// Code is the handler's error code: one of the Code constants, or a code
	// defined by the protocol on top of rpc.
	Code uint16
	// Message is the handler's error text.
	Message string
}

// Errorf returns a *RemoteError with code and a formatted message, for
// handlers that want the caller to see a specific code.
func Errorf(code uint16, format string, args ...any) error {
	return &RemoteError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Error implements error.
func (e *RemoteError) Error() string {
	return fmt.Sprintf("rpc: remote error (code %d): %s", e.Code, e.Message)
}

// Is reports whether target is a *RemoteError with the same code, so that
// errors.Is(err, &RemoteError{Code: c}) tests for a code.
func (e *RemoteError) Is(target error) bool {
	t, ok := target.(*RemoteError)
	return ok && t.Code == e.Code
}

// Unwrap returns context.DeadlineExceeded for CodeDeadlineExceeded, so that
// a deadline that expired on the server looks like one that expired here.
func (e *RemoteError) Unwrap() error {
	if e.Code == CodeDeadlineExceeded {
		return context.DeadlineExceeded
	}
	return nil
}

// ErrorCode returns the code of the *RemoteError in err's chain, and whether
// there is one.
func ErrorCode(err error) (uint16, bool) {
	var re *RemoteError
	if errors.As(err, &re) {
		return re.Code, true
	}
	return 0, false
}

// notSent marks cause as certainly not sent.
func notSent(cause error) error {
	if errors.Is(cause, ErrNotSent) {
		return cause
	}
	return fmt.Errorf("%w: %w", ErrNotSent, cause)
}

// connLost wraps the reason a connection broke.
// ErrClosed and ErrConnLost themselves are kept as they are.
func connLost(cause error) error {
	switch {
	case cause == nil:
		return ErrConnLost
	case errors.Is(cause, ErrConnLost), errors.Is(cause, ErrClosed):
		return cause
	}
	return fmt.Errorf("%w: %w", ErrConnLost, cause)
}
