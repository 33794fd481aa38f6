package clustertest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/conclave-go/conclave/cluster"
	"github.com/conclave-go/conclave/consensus"
)

// Outcome classifies a recorded operation.
type Outcome uint8

const (
	// OutcomeOK: the operation completed and its result is known.
	OutcomeOK Outcome = iota + 1
	// OutcomeFailed: the operation certainly took no effect (no leader was
	// reached, the node was closed before sending, ...). Failed operations
	// are left out of the check.
	OutcomeFailed
	// OutcomeUnknown: a write that may or may not have taken effect
	// (consensus.ErrOutcomeUnknown, a timeout after it was sent). The
	// checker lets it take effect at any point after its call, or never.
	OutcomeUnknown
)

// String returns "ok", "failed" or "unknown".
func (o Outcome) String() string {
	switch o {
	case OutcomeOK:
		return "ok"
	case OutcomeFailed:
		return "failed"
	case OutcomeUnknown:
		return "unknown"
	}
	return fmt.Sprintf("outcome(%d)", uint8(o))
}

// Classify returns the outcome of a write that returned err, following the
// error contract of cluster.Node.Apply: errors saying the request never ran
// (no leader, no server, closed before sending, too large, a state machine
// error, which in [KV] leaves the state unchanged) are failures; anything
// else, consensus.ErrOutcomeUnknown first of all, is unknown.
func Classify(err error) Outcome {
	var smErr *consensus.StateMachineError
	switch {
	case err == nil:
		return OutcomeOK
	case errors.Is(err, consensus.ErrOutcomeUnknown):
		return OutcomeUnknown
	case errors.As(err, &smErr),
		errors.Is(err, consensus.ErrNoLeader),
		errors.Is(err, consensus.ErrUnavailable),
		errors.Is(err, cluster.ErrClosed),
		errors.Is(err, cluster.ErrNotStarted),
		errors.Is(err, consensus.ErrTooLarge),
		errors.Is(err, cluster.ErrNoServers):
		return OutcomeFailed
	}
	return OutcomeUnknown
}

// Operation is one recorded operation of a [History].
type Operation struct {
	// Client is the recording client's id. A client that sees an unknown
	// outcome continues under a new id, so each id has at most one
	// operation that never completed.
	Client int
	// Node names the node the operation was sent through.
	Node string
	// Request and Result are what was asked and answered. Result is zero
	// unless Outcome is OutcomeOK.
	Request KVRequest
	Result  KVResult
	Outcome Outcome
	// Err is the error's text, if any.
	Err string
	// Call and Return are the times of the invocation and of the response,
	// since the history began. Return is meaningless for an unknown
	// outcome: the checker treats it as "never".
	Call, Return time.Duration
	// Final marks the reads made by [History.ReadFinal].
	Final bool
	// ViaLog marks a read that went through the Raft log (Apply) instead
	// of a linearizable query.
	ViaLog bool
}

// History records operations on a [KV] state machine from concurrent
// clients, for [Check]. Its methods are safe for concurrent use.
type History struct {
	begin time.Time

	mu         sync.Mutex // guards ops and nextClient
	ops        []Operation
	nextClient int
}

// NewHistory returns an empty history; its clock starts now.
func NewHistory() *History { return &History{begin: time.Now()} }

// since returns the time elapsed since the history began, on the monotonic
// clock.
func (h *History) since() time.Duration { return time.Since(h.begin) }

func (h *History) add(op Operation) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, op)
}

func (h *History) newID() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	id := h.nextClient
	h.nextClient++
	return id
}

// Operations returns a copy of the recorded operations, in the order they
// returned.
func (h *History) Operations() []Operation {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Operation(nil), h.ops...)
}

// Counts returns how many operations completed, failed and had an unknown
// outcome.
func (h *History) Counts() (ok, failed, unknown int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, op := range h.ops {
		switch op.Outcome {
		case OutcomeOK:
			ok++
		case OutcomeFailed:
			failed++
		case OutcomeUnknown:
			unknown++
		}
	}
	return ok, failed, unknown
}

// Keys returns every key the history touched, sorted.
func (h *History) Keys() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := make(map[string]bool)
	var keys []string
	for _, op := range h.ops {
		if !seen[op.Request.Key] {
			seen[op.Request.Key] = true
			keys = append(keys, op.Request.Key)
		}
	}
	sort.Strings(keys)
	return keys
}

// NewClient returns a recording client. A client runs one operation at a
// time.
func (h *History) NewClient() *Client {
	return &Client{h: h, id: h.newID()}
}

// Client runs [KV] operations through cluster nodes and records each in its
// [History], with its outcome. Its methods must not be called concurrently.
type Client struct {
	h  *History
	id int
}

// ID returns the client's current id (it changes after an unknown outcome).
func (cl *Client) ID() int { return cl.id }

// Put sets key to value through n.
func (cl *Client) Put(ctx context.Context, n *cluster.Node, key, value string) error {
	_, err := cl.Do(ctx, n, KVRequest{Op: OpPut, Key: key, Value: value}, false)
	return err
}

// Get reads key through n with a linearizable query.
func (cl *Client) Get(ctx context.Context, n *cluster.Node, key string) (string, bool, error) {
	res, err := cl.Do(ctx, n, KVRequest{Op: OpGet, Key: key}, false)
	return res.Value, res.Found, err
}

// CAS sets key to value through n if it holds expect, and reports whether
// it did.
func (cl *Client) CAS(ctx context.Context, n *cluster.Node, key, expect, value string) (bool, error) {
	res, err := cl.Do(ctx, n, KVRequest{Op: OpCAS, Key: key, Expect: expect, Value: value}, false)
	return res.OK, err
}

// Delete removes key through n and reports whether it existed.
func (cl *Client) Delete(ctx context.Context, n *cluster.Node, key string) (bool, error) {
	res, err := cl.Do(ctx, n, KVRequest{Op: OpDelete, Key: key}, false)
	return res.Found, err
}

// Do runs req through n and records it. A get is a linearizable query, or,
// with viaLog, a command through the Raft log; other requests are commands.
// A failed read is recorded as failed whatever the error (a read has no
// effect); a failed write is classified by [Classify].
func (cl *Client) Do(ctx context.Context, n *cluster.Node, req KVRequest, viaLog bool) (KVResult, error) {
	return cl.do(ctx, n, req, viaLog, false)
}

func (cl *Client) do(ctx context.Context, n *cluster.Node, req KVRequest, viaLog, final bool) (KVResult, error) {
	op := Operation{Client: cl.id, Node: n.Name(), Request: req, Final: final, ViaLog: viaLog && req.Op == OpGet}
	op.Call = cl.h.since()
	var b []byte
	var err error
	if req.Op == OpGet && !viaLog {
		b, err = n.Query(ctx, consensus.Linearizable, req.Encode())
	} else {
		b, err = n.Apply(ctx, req.Encode())
	}
	op.Return = cl.h.since()
	var res KVResult
	if err == nil {
		res, err = DecodeKVResult(b)
	}
	op.Outcome = Classify(err)
	if req.Op == OpGet && err != nil {
		op.Outcome = OutcomeFailed
	}
	if err != nil {
		op.Err = err.Error()
	} else {
		op.Result = res
	}
	cl.h.add(op)
	if op.Outcome == OutcomeUnknown {
		cl.id = cl.h.newID()
	}
	return res, err
}

// ReadFinal reads every key of the history through n with linearizable
// queries, retrying each until it succeeds or ctx ends, and records the
// reads as final. Call it once the cluster is healed (and, to check
// durability, after restarting every node): [Check] then verifies that no
// acknowledged write was lost.
func (h *History) ReadFinal(ctx context.Context, n *cluster.Node) error {
	cl := h.NewClient()
	for _, key := range h.Keys() {
		for {
			_, err := cl.do(ctx, n, KVRequest{Op: OpGet, Key: key}, false, true)
			if err == nil {
				break
			}
			t := time.NewTimer(pollInterval)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("clustertest: final read of %q: %w", key, err)
			case <-t.C:
			}
		}
	}
	return nil
}
