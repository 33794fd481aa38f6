package clustertest

import (
	"fmt"
	"hash/fnv"
	"sort"

	"github.com/anishathalye/porcupine"
)

// kvState is the model's state of one key.
type kvState struct {
	Value string
	Found bool
}

// kvOutput is a recorded result as the model sees it.
type kvOutput struct {
	KVResult
	Unknown bool
}

// kvModel is the sequential specification of [KV], one key at a time: a
// history is linearizable if and only if the sub-history of every key is.
// Results carry the state before each write, so writes are checked like
// reads.
var kvModel = porcupine.Model{
	Partition: partitionByKey,
	Init:      func() any { return kvState{} },
	Step:      kvStep,
	Hash: func(s any) uint64 {
		st := s.(kvState)
		h := fnv.New64a()
		_, _ = fmt.Fprintf(h, "%t/%s", st.Found, st.Value)
		return h.Sum64()
	},
	DescribeOperation: describeKVOperation,
	DescribeState: func(s any) string {
		st := s.(kvState)
		if !st.Found {
			return "(absent)"
		}
		return fmt.Sprintf("%q", st.Value)
	},
	DescribeOperationMetadata: func(m any) string {
		if m == nil {
			return ""
		}
		return fmt.Sprint(m)
	},
}

// kvStep applies one operation to the state of its key.
func kvStep(s, in, out any) (bool, any) {
	st, req, res := s.(kvState), in.(KVRequest), out.(kvOutput)
	prevOK := res.Unknown || (res.Found == st.Found && (!st.Found || res.Value == st.Value))
	switch req.Op {
	case OpGet:
		return prevOK, st
	case OpPut:
		return prevOK, kvState{Value: req.Value, Found: true}
	case OpDelete:
		return prevOK, kvState{}
	case OpCAS:
		hit := st.Found && st.Value == req.Expect
		if !res.Unknown && res.OK != hit {
			return false, st
		}
		if hit {
			return prevOK, kvState{Value: req.Value, Found: true}
		}
		return prevOK, st
	}
	return false, st
}

func describeKVOperation(in, out any) string {
	req, res := in.(KVRequest), out.(kvOutput)
	if res.Unknown {
		return req.String() + " → unknown"
	}
	prev := "(absent)"
	if res.Found {
		prev = fmt.Sprintf("%q", res.Value)
	}
	switch req.Op {
	case OpGet:
		return fmt.Sprintf("%s → %s", req, prev)
	case OpCAS:
		return fmt.Sprintf("%s → %t (was %s)", req, res.OK, prev)
	default:
		return fmt.Sprintf("%s (was %s)", req, prev)
	}
}

// partitionByKey splits a history into one sub-history per key, in key
// order.
func partitionByKey(ops []porcupine.Operation) [][]porcupine.Operation {
	byKey := make(map[string][]porcupine.Operation)
	for _, op := range ops {
		k := op.Input.(KVRequest).Key
		byKey[k] = append(byKey[k], op)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([][]porcupine.Operation, 0, len(keys))
	for _, k := range keys {
		out = append(out, byKey[k])
	}
	return out
}
