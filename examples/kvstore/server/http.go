package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/conclave-go/conclave/consensus"
)

// backend is what the HTTP API needs from the cluster node; *cluster.Node
// provides it, and tests substitute fakes to reach rare errors.
type backend interface {
	Apply(ctx context.Context, cmd []byte) ([]byte, error)
	Query(ctx context.Context, level consensus.ReadLevel, q []byte) ([]byte, error)
	Ready() bool
}

// api serves the HTTP interface of one node.
type api struct {
	node        backend
	maxKey      int
	maxValue    int
	maxMessage  int           // the largest command (MaxMessageSize); zero: the default
	maxBatchOps int           // zero: the default
	timeout     time.Duration // how long a request may wait for the cluster
	logger      *slog.Logger
}

// smallBody is the size up to which net/http buffers a response whole and
// sets its Content-Length itself, without allocating.
const smallBody = 2048

// retryAfter is the Retry-After value sent with 503s, in seconds.
const retryAfter = "1"

// handler routes the API. Each path also has a method-less pattern, which
// Go's mux prefers less than the method-specific ones: it answers 405 with
// an Allow header and a JSON body.
func (a *api) handler() http.Handler { return a.fastKeys(a.mux()) }

// fastKeys sends a request for a key (/kv/{key}, a clean path, GET, HEAD,
// PUT or DELETE) straight to its handler, and every other request to next.
// The mux would route it the same way, but matching the key's wildcard
// costs allocations on every request.
func (a *api) fastKeys(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if !strings.HasPrefix(p, "/kv/") || path.Clean(p) != p {
			next.ServeHTTP(w, r)
			return
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			a.getKey(w, r)
		case http.MethodPut:
			a.putKey(w, r)
		case http.MethodDelete:
			a.deleteKey(w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// mux is the API's router. The operator's endpoints join it
// (withOperator), so that a request goes through one router, not two.
func (a *api) mux() *http.ServeMux {
	mux := http.NewServeMux()
	route(mux, "/kv/{key...}", map[string]http.HandlerFunc{
		http.MethodGet: a.getKey, http.MethodPut: a.putKey, http.MethodDelete: a.deleteKey,
	})
	route(mux, "/batch", map[string]http.HandlerFunc{http.MethodPost: a.batch})
	route(mux, "/readyz", map[string]http.HandlerFunc{http.MethodGet: a.ready})
	a.backupRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
	})
	return mux
}

func route(mux *http.ServeMux, path string, handlers map[string]http.HandlerFunc) {
	allow := make([]string, 0, len(handlers)+1)
	for method, h := range handlers {
		mux.HandleFunc(method+" "+path, h)
		allow = append(allow, method)
		if method == http.MethodGet {
			allow = append(allow, http.MethodHead)
		}
	}
	slices.Sort(allow)
	allowed := strings.Join(allow, ", ")
	mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allowed)
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed: use %s", r.Method, allowed))
	})
}

// getKey serves GET /kv/{key}?consistency=stale|leader|linearizable.
func (a *api) getKey(w http.ResponseWriter, r *http.Request) {
	key, params, ok := a.request(w, r, "consistency")
	if !ok {
		return
	}
	level, err := parseConsistency(params.get("consistency"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx := r.Context()
	if level != consensus.Stale { // a stale read never waits
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.timeout)
		defer cancel()
	}
	res, err := a.node.Query(ctx, level, encodeGet(key))
	if err != nil {
		a.fail(w, r, err, false)
		return
	}
	value, found, err := decodeGet(res)
	switch {
	case err != nil:
		a.fail(w, r, err, false)
	case !found:
		writeStatic(w, http.StatusNotFound, notFoundBody)
	default:
		h := w.Header()
		h["Content-Type"] = octetStream
		if len(value) > smallBody {
			h["Content-Length"] = []string{strconv.Itoa(len(value))}
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(value)
	}
}

func parseConsistency(s string) (consensus.ReadLevel, error) {
	switch s {
	case "", "linearizable":
		return consensus.Linearizable, nil
	case "leader":
		return consensus.Leader, nil
	case "stale":
		return consensus.Stale, nil
	}
	return 0, fmt.Errorf("consistency %q: allowed stale, leader, linearizable", s)
}

// putKey serves PUT /kv/{key}: a plain write, a compare-and-swap with
// ?prev-value=OLD (for old values that fit in the request line), or one
// with ?prev-length=N, whose body is the N bytes of the old value followed
// by the new value (for any old value).
func (a *api) putKey(w http.ResponseWriter, r *http.Request) {
	key, params, ok := a.request(w, r, "prev-value", "prev-length")
	if !ok {
		return
	}
	prevLen := -1
	if params.has("prev-length") {
		n, err := strconv.Atoi(params.get("prev-length"))
		if err != nil || n < 0 || n > a.maxValue || params.has("prev-value") {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("prev-length must be a number of bytes from 0 to %d, without prev-value", a.maxValue))
			return
		}
		prevLen = n
	}
	body, ok := readBody(w, r, a.maxValue+max(prevLen, 0), a.tooLarge)
	if !ok {
		return
	}
	switch {
	case prevLen >= 0:
		if len(body) < prevLen {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("body of %d bytes is shorter than prev-length %d", len(body), prevLen))
			return
		}
		if len(body)-prevLen > a.maxValue {
			a.tooLarge(w, int64(len(body)-prevLen))
			return
		}
		a.write(w, r, encodeCAS(key, string(body[:prevLen]), body[prevLen:]))
	case params.has("prev-value"):
		prev := params.get("prev-value")
		if len(prev) > a.maxValue {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("prev-value of %d bytes exceeds the limit of %d", len(prev), a.maxValue))
			return
		}
		a.write(w, r, encodeCAS(key, prev, body))
	default:
		a.write(w, r, encodePut(key, body))
	}
}

// deleteKey serves DELETE /kv/{key}. Deleting an absent key succeeds.
func (a *api) deleteKey(w http.ResponseWriter, r *http.Request) {
	key, _, ok := a.request(w, r)
	if !ok {
		return
	}
	a.write(w, r, encodeDelete(key))
}

// write replicates cmd and answers 204, or 412 for a compare-and-swap that
// did not hold.
func (a *api) write(w http.ResponseWriter, r *http.Request, cmd []byte) {
	res, ok := a.apply(w, r, cmd)
	if !ok {
		return
	}
	switch {
	case len(res) == 1 && res[0] == resultOK:
		w.WriteHeader(http.StatusNoContent)
	case len(res) == 1 && res[0] == resultMismatch:
		writeError(w, http.StatusPreconditionFailed, "compare-and-swap failed: the key is absent or its value differs from prev-value")
	default:
		a.fail(w, r, fmt.Errorf("%w: unexpected result %q", errMalformed, res), true)
	}
}

// request validates the key and the query parameters (only those named are
// allowed, each at most once). It answers 400 itself and returns false when
// they are bad.
func (a *api) request(w http.ResponseWriter, r *http.Request, allowed ...string) (string, query, bool) {
	key := strings.TrimPrefix(r.URL.Path, "/kv/") // the {key...} of the route
	if key == "" {
		writeError(w, http.StatusBadRequest, "empty key")
		return "", query{}, false
	}
	if len(key) > a.maxKey {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("key of %d bytes exceeds the limit of %d", len(key), a.maxKey))
		return "", query{}, false
	}
	params, err := parseQuery(r.URL.RawQuery, allowed)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return "", query{}, false
	}
	return key, params, true
}

// apply replicates cmd within the request timeout and returns its result.
// When it fails, it answers the error itself and returns false.
func (a *api) apply(w http.ResponseWriter, r *http.Request, cmd []byte) ([]byte, bool) {
	ctx, cancel := context.WithTimeout(r.Context(), a.timeout)
	defer cancel()
	res, err := a.node.Apply(ctx, cmd)
	if err != nil {
		a.fail(w, r, err, true)
		return nil, false
	}
	return res, true
}

// readBody reads a body of at most limit bytes. When it is larger,
// tooLarge answers (with the announced size, or -1 when the body ran past
// the limit) and readBody returns false; it answers 400 itself when the
// body cannot be read.
func readBody(w http.ResponseWriter, r *http.Request, limit int, tooLarge func(w http.ResponseWriter, size int64)) ([]byte, bool) {
	if r.ContentLength > int64(limit) {
		tooLarge(w, r.ContentLength)
		return nil, false
	}
	value, err := readAtMost(w, r, limit)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		tooLarge(w, -1)
		return nil, false
	case err != nil:
		writeError(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return nil, false
	}
	return value, true
}

// readAtMost reads a body of at most limit bytes (a larger one is an
// *http.MaxBytesError) into one buffer of the announced length.
func readAtMost(w http.ResponseWriter, r *http.Request, limit int) ([]byte, error) {
	if r.ContentLength < 0 || r.ContentLength > int64(limit) {
		return io.ReadAll(http.MaxBytesReader(w, r.Body, int64(limit)))
	}
	// net/http ends the body after ContentLength bytes.
	b := make([]byte, r.ContentLength)
	if _, err := io.ReadFull(r.Body, b); err != nil {
		return nil, err
	}
	return b, nil
}

func (a *api) tooLarge(w http.ResponseWriter, size int64) {
	msg := fmt.Sprintf("value exceeds the limit of %d bytes", a.maxValue)
	if size >= 0 {
		msg = fmt.Sprintf("value of %d bytes exceeds the limit of %d", size, a.maxValue)
	}
	writeError(w, http.StatusRequestEntityTooLarge, msg)
}
