package clustertest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"sync"

	"github.com/conclave-go/conclave/cluster"
	"github.com/conclave-go/conclave/consensus"
)

// KVOp names an operation of the [KV] state machine.
type KVOp string

// The operations of the [KV] state machine.
const (
	// OpGet reads a key. As a query it reads the local state; as a command
	// it goes through the log.
	OpGet KVOp = "get"
	// OpPut sets a key.
	OpPut KVOp = "put"
	// OpCAS sets a key to Value if it exists and holds Expect.
	OpCAS KVOp = "cas"
	// OpDelete removes a key.
	OpDelete KVOp = "delete"
)

// maxKVRequest bounds an encoded request the state machine accepts.
const maxKVRequest = 1 << 20

// KVRequest is one command or query of the [KV] state machine, encoded as
// JSON by [KVRequest.Encode].
type KVRequest struct {
	Op     KVOp   `json:"op"`
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`
	Expect string `json:"expect,omitempty"`
}

// KVResult is the state machine's answer to a [KVRequest]:
//   - get: Value and Found;
//   - put: OK is true;
//   - cas: OK reports the swap; Value and Found are the state before it;
//   - delete: Found reports whether the key existed; OK is true.
type KVResult struct {
	Value string `json:"value,omitempty"`
	Found bool   `json:"found,omitempty"`
	OK    bool   `json:"ok,omitempty"`
}

// Encode returns the request's wire form, for Node.Apply or Node.Query.
func (r KVRequest) Encode() []byte {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err) // a struct of strings always marshals
	}
	return b
}

// String returns e.g. "put(k1, v3)".
func (r KVRequest) String() string {
	switch r.Op {
	case OpPut:
		return fmt.Sprintf("put(%s, %s)", r.Key, r.Value)
	case OpCAS:
		return fmt.Sprintf("cas(%s, %s→%s)", r.Key, r.Expect, r.Value)
	default:
		return fmt.Sprintf("%s(%s)", r.Op, r.Key)
	}
}

// DecodeKVRequest parses and validates a request.
func DecodeKVRequest(b []byte) (KVRequest, error) {
	var r KVRequest
	if len(b) > maxKVRequest {
		return r, fmt.Errorf("clustertest: kv request of %d bytes, limit %d", len(b), maxKVRequest)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("clustertest: kv request: %w", err)
	}
	switch r.Op {
	case OpGet, OpPut, OpCAS, OpDelete:
		return r, nil
	}
	return r, fmt.Errorf("clustertest: kv request: unknown op %q", r.Op)
}

// DecodeKVResult parses a result returned by Apply or Query.
func DecodeKVResult(b []byte) (KVResult, error) {
	var r KVResult
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("clustertest: kv result: %w", err)
	}
	return r, nil
}

// KV is a small replicated key-value store: a [consensus.StateMachine] and
// a [consensus.Querier] whose commands and queries are [KVRequest]s. It is
// the harness's default state machine and the one the linearizability
// checker models. Its methods are safe for concurrent use.
type KV struct {
	mu   sync.RWMutex // guards data
	data map[string]string
}

var (
	_ consensus.StateMachine = (*KV)(nil)
	_ consensus.Querier      = (*KV)(nil)
)

// NewKV returns an empty store.
func NewKV() *KV { return &KV{data: make(map[string]string)} }

// Apply executes one committed [KVRequest].
func (s *KV) Apply(cmd []byte) ([]byte, error) {
	req, err := DecodeKVRequest(cmd)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, found := s.data[req.Key]
	res := KVResult{Value: old, Found: found}
	switch req.Op {
	case OpPut:
		s.data[req.Key] = req.Value
		res.OK = true
	case OpCAS:
		if found && old == req.Expect {
			s.data[req.Key] = req.Value
			res.OK = true
		}
	case OpDelete:
		delete(s.data, req.Key)
		res.OK = true
	}
	return encodeResult(res), nil
}

// Query answers a get request from the local state.
func (s *KV) Query(q []byte) ([]byte, error) {
	req, err := DecodeKVRequest(q)
	if err != nil {
		return nil, err
	}
	if req.Op != OpGet {
		return nil, fmt.Errorf("clustertest: kv query: op %q is not a read", req.Op)
	}
	v, ok := s.Get(req.Key)
	return encodeResult(KVResult{Value: v, Found: ok}), nil
}

func encodeResult(r KVResult) []byte {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	return b
}

// Get reads key from the local state, without any consistency guarantee.
func (s *KV) Get(key string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.data[key]
	return v, ok
}

// Data returns a copy of the local state.
func (s *KV) Data() map[string]string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return maps.Clone(s.data)
}

// Snapshot captures a copy of the state; Write streams it as JSON.
func (s *KV) Snapshot() (consensus.Snapshot, error) {
	data := s.Data()
	return consensus.SnapshotFunc{WriteFunc: func(w io.Writer) error {
		return json.NewEncoder(w).Encode(data)
	}}, nil
}

// Restore replaces the state with a snapshot written by Snapshot.
func (s *KV) Restore(r io.Reader) error {
	data := make(map[string]string)
	if err := json.NewDecoder(bufio.NewReader(r)).Decode(&data); err != nil {
		return fmt.Errorf("clustertest: kv restore: %w", err)
	}
	s.mu.Lock()
	s.data = data
	s.mu.Unlock()
	return nil
}

// Put sets key to value through node n (any node: servers forward to the
// leader, clients send to a server).
func Put(ctx context.Context, n *cluster.Node, key, value string) error {
	_, err := applyKV(ctx, n, KVRequest{Op: OpPut, Key: key, Value: value})
	return err
}

// Get reads key through node n at the given consistency level.
func Get(ctx context.Context, n *cluster.Node, level consensus.ReadLevel, key string) (string, bool, error) {
	b, err := n.Query(ctx, level, KVRequest{Op: OpGet, Key: key}.Encode())
	if err != nil {
		return "", false, err
	}
	res, err := DecodeKVResult(b)
	return res.Value, res.Found, err
}

// CAS sets key to value if it holds expect, through node n, and reports
// whether it did.
func CAS(ctx context.Context, n *cluster.Node, key, expect, value string) (bool, error) {
	res, err := applyKV(ctx, n, KVRequest{Op: OpCAS, Key: key, Expect: expect, Value: value})
	return res.OK, err
}

// Delete removes key through node n and reports whether it existed.
func Delete(ctx context.Context, n *cluster.Node, key string) (bool, error) {
	res, err := applyKV(ctx, n, KVRequest{Op: OpDelete, Key: key})
	return res.Found, err
}

func applyKV(ctx context.Context, n *cluster.Node, req KVRequest) (KVResult, error) {
	b, err := n.Apply(ctx, req.Encode())
	if err != nil {
		return KVResult{}, err
	}
	return DecodeKVResult(b)
}
