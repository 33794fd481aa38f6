package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/require"
)

// httpHistory records puts and linearizable gets sent to kvstore nodes over
// HTTP, for a linearizability check with porcupine. Its methods are safe
// for concurrent use.
type httpHistory struct {
	begin  time.Time
	client *http.Client

	mu     sync.Mutex // guards ops, nextID and keySet
	ops    []porcupine.Operation
	nextID int
	keySet map[string]bool
}

// kvIn is a recorded request; kvOut its response as the model sees it.
type kvIn struct {
	Put        bool
	Key, Value string
}

type kvOut struct {
	Value   string
	Found   bool
	Unknown bool // a put whose outcome is unknown
}

func newHTTPHistory() *httpHistory {
	return &httpHistory{
		begin: time.Now(),
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			DisableKeepAlives: true,
			// A dial outlives the request that started it: bound it, so
			// none is left when the test ends.
			DialContext: (&net.Dialer{Timeout: time.Second}).DialContext,
		}},
		keySet: map[string]bool{},
	}
}

func (h *httpHistory) now() int64 { return int64(time.Since(h.begin)) }

// record adds an operation; a put of unknown outcome never returns.
func (h *httpHistory) record(in kvIn, out kvOut, call, ret int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if out.Unknown {
		ret = math.MaxInt64
	}
	h.ops = append(h.ops, porcupine.Operation{ClientId: h.nextID, Input: in, Output: out, Call: call, Return: ret})
	h.nextID++
	h.keySet[in.Key] = true
}

// put writes key=value through the node at addr and records the outcome:
// 204 is acknowledged; 503, or a connection that could not be opened,
// certainly not applied (not recorded); anything else unknown.
func (h *httpHistory) put(addr, key, value string) {
	call := h.now()
	code, _ := h.do(http.MethodPut, addr, key, []byte(value))
	ret := h.now()
	switch code {
	case http.StatusNoContent:
		h.record(kvIn{Put: true, Key: key, Value: value}, kvOut{}, call, ret)
	case http.StatusServiceUnavailable, notSent:
	default:
		h.record(kvIn{Put: true, Key: key, Value: value}, kvOut{Unknown: true}, call, ret)
	}
}

// get reads key linearizably through the node at addr, records an answer
// (200 or 404) and returns the status.
func (h *httpHistory) get(addr, key string) int {
	call := h.now()
	code, body := h.do(http.MethodGet, addr, key, nil)
	ret := h.now()
	switch code {
	case http.StatusOK:
		h.record(kvIn{Key: key}, kvOut{Value: string(body), Found: true}, call, ret)
	case http.StatusNotFound:
		h.record(kvIn{Key: key}, kvOut{}, call, ret)
	}
	return code
}

// notSent is the status do reports when no connection could be opened: the
// request never reached a node.
const notSent = -1

func (h *httpHistory) do(method, addr, key string, body []byte) (int, []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+"/kv/"+key, bytes.NewReader(body))
	if err != nil {
		return 0, nil
	}
	resp, err := h.client.Do(req)
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return notSent, nil
	}
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil
	}
	return resp.StatusCode, b
}

func (h *httpHistory) keys() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for k := range h.keySet {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// counts returns the acknowledged operations and the puts of unknown
// outcome.
func (h *httpHistory) counts() (ok, unknown int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, op := range h.ops {
		if op.Output.(kvOut).Unknown {
			unknown++
		} else {
			ok++
		}
	}
	return ok, unknown
}

// check verifies the history against a register per key.
func (h *httpHistory) check() error {
	h.mu.Lock()
	ops := slices.Clone(h.ops)
	h.mu.Unlock()
	res, _ := porcupine.CheckOperationsVerbose(registerModel, ops, time.Minute)
	switch res {
	case porcupine.Ok:
		return nil
	case porcupine.Unknown:
		return errors.New("the linearizability check timed out")
	}
	return fmt.Errorf("not linearizable (%d operations)", len(ops))
}

// registerState is one key: absent, or holding Value.
type registerState struct {
	Value string
	Found bool
}

var registerModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(kvIn).Key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		var out [][]porcupine.Operation
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return registerState{} },
	Step: func(s, in, out any) (bool, any) {
		st, i, o := s.(registerState), in.(kvIn), out.(kvOut)
		if i.Put {
			return true, registerState{Value: i.Value, Found: true}
		}
		return o.Found == st.Found && o.Value == st.Value, st
	},
	Hash: func(s any) uint64 {
		st := s.(registerState)
		f := fnv.New64a()
		_, _ = fmt.Fprintf(f, "%t/%s", st.Found, st.Value)
		return f.Sum64()
	},
	DescribeOperation: func(in, out any) string {
		i, o := in.(kvIn), out.(kvOut)
		if i.Put {
			return fmt.Sprintf("put %s=%s unknown=%v", i.Key, i.Value, o.Unknown)
		}
		return fmt.Sprintf("get %s -> %q found=%v", i.Key, o.Value, o.Found)
	},
}

// The checker fails a history with a stale read and passes it without.
func TestRegisterModelCatchesStaleRead(t *testing.T) {
	h := newHTTPHistory()
	h.record(kvIn{Put: true, Key: "k", Value: "1"}, kvOut{}, 0, 10)
	h.record(kvIn{Put: true, Key: "k", Value: "2"}, kvOut{}, 20, 30)
	h.record(kvIn{Put: true, Key: "k", Value: "3"}, kvOut{Unknown: true}, 35, 36)
	h.record(kvIn{Key: "k"}, kvOut{Value: "2", Found: true}, 40, 50)
	require.NoError(t, h.check())
	h.record(kvIn{Key: "k"}, kvOut{Value: "1", Found: true}, 60, 70)
	require.Error(t, h.check(), "value 1 was overwritten by an acknowledged put before the read began")
}
