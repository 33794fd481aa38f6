package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"unicode/utf8"

	"github.com/conclave-go/conclave/consensus"
)

// batchRequest is the body of POST /batch.
type batchRequest struct {
	// Atomic applies all operations or none: a compare-and-swap that does
	// not hold undoes the batch. Without it each operation stands alone.
	Atomic bool `json:"atomic"`
	// Encoding is how every value and prev of the request and the response
	// is written: "text" (the default; UTF-8 strings) or "base64".
	Encoding string           `json:"encoding"`
	Ops      []batchRequestOp `json:"ops"`
}

type batchRequestOp struct {
	Op    string  `json:"op"` // put, cas, delete, get
	Key   string  `json:"key"`
	Value *string `json:"value"` // put and cas
	Prev  *string `json:"prev"`  // cas: the value it expects
}

// batchResponse answers a batch that was applied: one result per
// operation, in the order of the request.
type batchResponse struct {
	Results []batchOpResult `json:"results"`
}

// batchOpResult is one operation's outcome, with the status its own
// request on /kv/{key} would have had.
type batchOpResult struct {
	Status int     `json:"status"`
	Value  *string `json:"value,omitempty"` // a get that found its key
	Error  string  `json:"error,omitempty"`
}

// badOp is an invalid operation of a batch: the request is refused whole.
type badOp struct {
	index  int
	status int
	msg    string
}

// batchKinds maps the JSON operations to the command's.
var batchKinds = map[string]byte{"put": opPut, "cas": opCAS, "delete": opDelete, "get": batchGet}

// batchOps is the most operations in a batch.
func (a *api) batchOps() int {
	if a.maxBatchOps == 0 {
		return defaultMaxBatchOps
	}
	return a.maxBatchOps
}

// messageSize is the most bytes of one command (MaxMessageSize).
func (a *api) messageSize() int {
	if a.maxMessage == 0 {
		return consensus.DefaultMaxMessageSize
	}
	return a.maxMessage
}

// batch serves POST /batch: many operations in one Raft entry.
func (a *api) batch(w http.ResponseWriter, r *http.Request) {
	if _, err := parseQuery(r.URL.RawQuery, nil); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	req, ok := a.readBatch(w, r)
	if !ok {
		return
	}
	ops, bad := a.decodeOps(req)
	if bad != nil {
		writeJSON(w, bad.status, errorBody{Error: fmt.Sprintf("op %d: %s", bad.index, bad.msg), Op: &bad.index})
		return
	}
	cmd := encodeBatch(req.Atomic, ops)
	if len(cmd) > a.messageSize() {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the batch encodes to %d bytes, over the limit of %d: split it", len(cmd), a.messageSize()))
		return
	}
	res, ok := a.apply(w, r, cmd)
	if !ok {
		return
	}
	results, err := decodeBatchResult(res, len(ops))
	if err != nil {
		a.fail(w, r, err, true)
		return
	}
	writeJSON(w, http.StatusOK, batchResponse{Results: a.batchResults(req, results)})
}

// readBatch reads and parses the body, answering 4xx itself when it is too
// large or not a batch. The body may take twice the message size: JSON and
// base64 are larger than the command they encode.
func (a *api) readBatch(w http.ResponseWriter, r *http.Request) (batchRequest, bool) {
	var req batchRequest
	limit := 2 * a.messageSize()
	body, ok := readBody(w, r, limit, func(w http.ResponseWriter, size int64) {
		if size < 0 {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("batch exceeds the limit of %d bytes: split it", limit))
			return
		}
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("batch of %d bytes exceeds the limit of %d: split it", size, limit))
	})
	switch {
	case !ok:
		return req, false
	case !utf8.Valid(body):
		writeError(w, http.StatusBadRequest, `the body is not valid UTF-8: binary values go in base64, with "encoding": "base64"`)
		return req, false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "bad batch: "+err.Error())
		return req, false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "bad batch: data after the JSON object")
		return req, false
	}
	switch {
	case req.Encoding != "" && req.Encoding != "text" && req.Encoding != "base64":
		writeError(w, http.StatusBadRequest, fmt.Sprintf("encoding %q: allowed text (the default) or base64", req.Encoding))
	case len(req.Ops) == 0:
		writeError(w, http.StatusBadRequest, `the batch has no operations: send {"ops": [...]}`)
	case len(req.Ops) > a.batchOps():
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("%d operations exceed the limit of %d (-max-batch-ops): split the batch", len(req.Ops), a.batchOps()))
	default:
		return req, true
	}
	return req, false
}

// decodeOps validates every operation and converts it for the command.
func (a *api) decodeOps(req batchRequest) ([]batchOp, *badOp) {
	ops := make([]batchOp, len(req.Ops))
	for i, o := range req.Ops {
		op, status, msg := a.decodeOp(o, req.Encoding == "base64")
		if status != 0 {
			return nil, &badOp{index: i, status: status, msg: msg}
		}
		ops[i] = op
	}
	return ops, nil
}

func (a *api) decodeOp(o batchRequestOp, b64 bool) (batchOp, int, string) {
	kind, ok := batchKinds[o.Op]
	switch {
	case !ok:
		return batchOp{}, http.StatusBadRequest, fmt.Sprintf("unknown op %q: use put, cas, delete or get", o.Op)
	case o.Key == "":
		return batchOp{}, http.StatusBadRequest, "empty key"
	case len(o.Key) > a.maxKey:
		return batchOp{}, http.StatusBadRequest, fmt.Sprintf("key of %d bytes exceeds the limit of %d", len(o.Key), a.maxKey)
	case (o.Value != nil) != (kind == opPut || kind == opCAS):
		return batchOp{}, http.StatusBadRequest, fmt.Sprintf("%s takes a value: put and cas do, delete and get do not", o.Op)
	case (o.Prev != nil) != (kind == opCAS):
		return batchOp{}, http.StatusBadRequest, fmt.Sprintf("%s takes a prev: cas does, the others do not", o.Op)
	}
	op := batchOp{kind: kind, key: o.Key}
	var err error
	if op.value, err = decodeValue(o.Value, b64); err != nil {
		return op, http.StatusBadRequest, "value: " + err.Error()
	}
	prev, err := decodeValue(o.Prev, b64)
	if err != nil {
		return op, http.StatusBadRequest, "prev: " + err.Error()
	}
	op.prev = string(prev)
	for _, f := range [...]struct {
		name string
		n    int
	}{{"value", len(op.value)}, {"prev", len(op.prev)}} {
		if f.n > a.maxValue {
			return op, http.StatusRequestEntityTooLarge, fmt.Sprintf("%s of %d bytes exceeds the limit of %d", f.name, f.n, a.maxValue)
		}
	}
	return op, 0, ""
}

func decodeValue(s *string, b64 bool) ([]byte, error) {
	switch {
	case s == nil:
		return nil, nil
	case b64:
		return base64.StdEncoding.DecodeString(*s)
	}
	return []byte(*s), nil
}

// batchResults turns the state machine's outcomes into the response's.
func (a *api) batchResults(req batchRequest, results []batchResult) []batchOpResult {
	failed := -1 // the operation that undid an atomic batch
	for i, r := range results {
		if r.code == codeMismatch {
			failed = i
			break
		}
	}
	out := make([]batchOpResult, len(results))
	for i, r := range results {
		out[i] = a.batchResult(r, req.Encoding == "base64", failed)
	}
	return out
}

func (a *api) batchResult(r batchResult, b64 bool, failed int) batchOpResult {
	switch r.code {
	case codeOK:
		return batchOpResult{Status: http.StatusNoContent}
	case codeMismatch:
		return batchOpResult{Status: http.StatusPreconditionFailed, Error: "compare-and-swap failed: the key is absent or its value differs from prev"}
	case codeNotFound:
		return batchOpResult{Status: http.StatusNotFound, Error: "key not found"}
	case codeNotApplied:
		return batchOpResult{Status: http.StatusFailedDependency, Error: fmt.Sprintf("not applied: op %d's compare-and-swap failed, which undid this atomic batch", failed)}
	case codeTooLarge:
		return batchOpResult{Status: http.StatusRequestEntityTooLarge, Error: fmt.Sprintf("the value would take the batch's result over %d bytes: read this key alone or in a smaller batch", a.messageSize())}
	}
	if b64 {
		v := base64.StdEncoding.EncodeToString(r.value)
		return batchOpResult{Status: http.StatusOK, Value: &v}
	}
	if !utf8.Valid(r.value) {
		return batchOpResult{Status: http.StatusNotAcceptable, Error: `the value is not valid UTF-8: read it with "encoding": "base64" or on /kv/{key}`}
	}
	v := string(r.value)
	return batchOpResult{Status: http.StatusOK, Value: &v}
}
