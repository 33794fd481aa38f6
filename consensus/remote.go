package consensus

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/conclave-go/conclave/internal/netx"
	"github.com/conclave-go/conclave/internal/rpc"
)

// Error codes of Conclave's RPC (rpc reserves 0..15).
const (
	codeNotLeader      = rpc.CodeFirstUser + iota // not the leader and may not forward; not executed
	codeNoLeader                                  // no leader reachable; not executed
	codeOutcomeUnknown                            // may have been executed
	codeClosed                                    // the server is closing; not executed
	codeBadRequest                                // malformed request
	codeTooLarge                                  // a message exceeds MaxMessageSize
	codeNoQuerier                                 // the state machine cannot answer queries
	codeStale                                     // a stale read exceeded MaxStaleness
	codeUnknownServer                             // a membership change names an unknown server
	codeFailed                                    // any other failure; the message says why
)

// frameOverhead is the room an RPC frame needs beyond the largest command,
// query or result.
const frameOverhead = 1 << 10

// maxRemoteMessage bounds an error message put in a reply.
const maxRemoteMessage = 4 << 10

// remote is the calling side of Conclave's RPC, shared by [Node] (forwarding,
// status) and [Client].
type remote struct {
	client  *rpc.Client
	maxSize int
}

func newRemote(network netx.Network, tlsConf *tls.Config, maxSize int, logger *slog.Logger) (*remote, error) {
	network = netx.OrReal(network)
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		return rpc.DialByte(ctx, network.Dial, addr, byteRPC, tlsConf)
	}
	c, err := rpc.NewClient(dial, rpc.ClientConfig{
		MaxFrame:     maxSize + frameOverhead,
		ConnsPerAddr: rpc.DefaultConnsPerAddr,
		Logger:       logger,
	})
	if err != nil {
		return nil, fmt.Errorf("consensus: %w", err)
	}
	return &remote{client: c, maxSize: maxSize}, nil
}

func (r *remote) close() error { return r.client.Close() }

// apply sends a command to the server at addr.
func (r *remote) apply(ctx context.Context, addr string, forwarded bool, cmd []byte) ([]byte, error) {
	req := applyRequest{header: header{forwarded: forwarded}, cmd: cmd}.encode()
	resp, err := r.client.Call(ctx, addr, methodApply, req)
	if err != nil {
		return nil, callError(ctx, err, true)
	}
	res, err := decodeResult(resp, r.maxSize)
	if err != nil {
		return nil, outcomeUnknown(err)
	}
	return res.value()
}

// readIndex asks the leader at addr for a read index.
func (r *remote) readIndex(ctx context.Context, addr string) (uint64, error) {
	resp, err := r.client.Call(ctx, addr, methodReadIndex, readIndexRequest{header{forwarded: true}}.encode())
	if err != nil {
		return 0, callError(ctx, err, false)
	}
	m, err := decodeReadIndexResponse(resp)
	if err != nil {
		return 0, retryable(err)
	}
	return m.index, nil
}

// query sends a query to the server at addr.
func (r *remote) query(ctx context.Context, addr string, forwarded bool, level ReadLevel, q []byte) ([]byte, error) {
	req := queryRequest{header: header{forwarded: forwarded}, level: level, query: q}.encode()
	resp, err := r.client.Call(ctx, addr, methodQuery, req)
	if err != nil {
		return nil, callError(ctx, err, false)
	}
	res, err := decodeResult(resp, r.maxSize)
	if err != nil {
		return nil, retryable(err)
	}
	return res.value()
}

// change sends a membership change to the server at addr.
func (r *remote) change(ctx context.Context, addr string, m changeRequest) error {
	_, err := r.client.Call(ctx, addr, methodChange, m.encode())
	if err != nil {
		return callError(ctx, err, true)
	}
	return nil
}

// status asks the server at addr for its status.
func (r *remote) status(ctx context.Context, addr string) (Status, error) {
	resp, err := r.client.Call(ctx, addr, methodStatus, statusRequest{}.encode())
	if err != nil {
		return Status{}, callError(ctx, err, false)
	}
	return decodeStatus(resp)
}

// value turns a decoded result into the caller's return values.
func (m result) value() ([]byte, error) {
	if m.smErr {
		return nil, &StateMachineError{Err: errors.New(string(m.payload))}
	}
	return m.payload, nil
}

// callError classifies an error from rpc.Client.Call. Requests that certainly
// did not run become retryable. For a write, any other transport failure
// leaves the outcome unknown; a read is idempotent, so it is retried.
func callError(ctx context.Context, err error, write bool) error {
	if code, ok := rpc.ErrorCode(err); ok {
		return remoteError(code, err, write)
	}
	if errors.Is(err, rpc.ErrNotSent) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return retryable(err)
	}
	if !write {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return retryable(err)
	}
	if ctx.Err() != nil {
		return outcomeUnknown(fmt.Errorf("%w (%v)", ctx.Err(), err))
	}
	return outcomeUnknown(err)
}

// remoteError maps a handler's error code back to this package's errors.
func remoteError(code uint16, err error, write bool) error {
	var re *rpc.RemoteError
	errors.As(err, &re)
	msg := re.Message
	switch code {
	case codeNotLeader:
		return retryable(&NotLeaderError{})
	case codeNoLeader:
		return retryable(fmt.Errorf("%w: %s", ErrNoLeader, msg))
	case codeClosed:
		return retryable(fmt.Errorf("%w: server closing", errNoLeaderKnown))
	case codeOutcomeUnknown:
		return outcomeUnknown(errors.New("consensus: remote: " + msg))
	case codeTooLarge:
		return fmt.Errorf("%w: %s", ErrTooLarge, msg)
	case codeNoQuerier:
		return ErrNoQuerier
	case codeStale:
		return fmt.Errorf("%w: %s", ErrStale, msg)
	case codeUnknownServer:
		return fmt.Errorf("%w: %s", ErrUnknownServer, msg)
	case codeBadRequest, rpc.CodeUnknownMethod:
		return fmt.Errorf("%w: %s", ErrProtocol, msg)
	}
	if write && code != codeFailed {
		return outcomeUnknown(err)
	}
	return errors.New("consensus: remote: " + msg)
}

// toRemote maps an error of a handler to the *rpc.RemoteError the caller
// receives.
func toRemote(err error) error {
	var nle *NotLeaderError
	switch {
	case errors.Is(err, ErrOutcomeUnknown):
		return rpc.Errorf(codeOutcomeUnknown, "%s", clip(err.Error()))
	case errors.Is(err, ErrClosed):
		return rpc.Errorf(codeClosed, "server closing")
	case errors.As(err, &nle):
		return rpc.Errorf(codeNotLeader, "not the leader")
	case errors.Is(err, ErrNoLeader), errors.Is(err, errNoLeaderKnown),
		errors.Is(err, errLeaderNotReady), errors.Is(err, rpc.ErrNotSent):
		return rpc.Errorf(codeNoLeader, "%s", clip(err.Error()))
	case errors.Is(err, ErrTooLarge):
		return rpc.Errorf(codeTooLarge, "%s", clip(err.Error()))
	case errors.Is(err, ErrNoQuerier):
		return rpc.Errorf(codeNoQuerier, "no querier")
	case errors.Is(err, ErrStale):
		return rpc.Errorf(codeStale, "%s", clip(err.Error()))
	case errors.Is(err, ErrUnknownServer):
		return rpc.Errorf(codeUnknownServer, "%s", clip(err.Error()))
	case errors.Is(err, ErrProtocol):
		return rpc.Errorf(codeBadRequest, "%s", clip(err.Error()))
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return rpc.Errorf(codeOutcomeUnknown, "%s", clip(err.Error()))
	default:
		return rpc.Errorf(codeFailed, "%s", clip(err.Error()))
	}
}

func clip(s string) string {
	if len(s) > maxRemoteMessage {
		return s[:maxRemoteMessage]
	}
	return s
}
