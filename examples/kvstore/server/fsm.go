package server

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/conclave-go/conclave/consensus"
)

// Command opcodes: the first byte of every command in the Raft log.
const (
	opPut    byte = 'P' // key, value
	opCAS    byte = 'C' // key, expected value, new value
	opDelete byte = 'D' // key
)

// Query opcodes: the first byte of every query.
const (
	queryGet byte = 'G' // key → found byte + value
)

// Results of a command.
const (
	resultOK       byte = 0 // applied
	resultMismatch byte = 1 // compare-and-swap: absent key or different value
)

// errMalformed reports a command or query this state machine cannot decode.
var errMalformed = errors.New("kvstore: malformed command")

// store is the replicated key-value map. Apply runs on Raft's goroutine;
// Query and Snapshot may run concurrently with it, hence the lock. Stored
// values are never modified in place, so a shallow copy of the map is a
// consistent point-in-time view.
type store struct {
	mu   sync.RWMutex // guards data
	data map[string][]byte

	// maxEntry bounds a key or value read back from a snapshot.
	maxEntry int
}

var (
	_ consensus.StateMachine = (*store)(nil)
	_ consensus.Querier      = (*store)(nil)
)

func newStore(maxEntry int) *store {
	return &store{data: make(map[string][]byte), maxEntry: maxEntry}
}

// Commands are encoded as
//
//	op | uvarint len(key) | key | [uvarint len(prev) | prev] | value
//
// where prev is present for opCAS only and value (the rest of the command)
// for opPut and opCAS.

func encodePut(key string, value []byte) []byte {
	b := appendString(append(make([]byte, 0, 1+binary.MaxVarintLen64+len(key)+len(value)), opPut), key)
	return append(b, value...)
}

func encodeCAS(key, prev string, value []byte) []byte {
	b := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(key)+len(prev)+len(value))
	b = appendString(appendString(append(b, opCAS), key), prev)
	return append(b, value...)
}

func encodeDelete(key string) []byte {
	return appendString([]byte{opDelete}, key)
}

func encodeGet(key string) []byte {
	return append([]byte{queryGet}, key...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// readString splits a length-prefixed string off the front of b.
func readString(b []byte) (string, []byte, error) {
	n, size := binary.Uvarint(b)
	if size <= 0 || n > uint64(len(b)-size) {
		return "", nil, errMalformed
	}
	b = b[size:]
	return string(b[:n]), b[n:], nil
}

// Apply applies one committed command. Its result is one byte: resultOK or,
// for a compare-and-swap that did not hold, resultMismatch; a batch's is
// described in batch.go. Only a command that cannot be decoded returns an
// error.
func (s *store) Apply(cmd []byte) ([]byte, error) {
	if len(cmd) == 0 {
		return nil, errMalformed
	}
	op := cmd[0]
	if op == opBatch {
		return s.applyBatch(cmd[1:])
	}
	key, rest, err := readString(cmd[1:])
	if err != nil {
		return nil, err
	}
	switch op {
	case opPut:
		s.set(key, rest)
	case opDelete:
		if len(rest) != 0 {
			return nil, errMalformed
		}
		s.mu.Lock()
		delete(s.data, key)
		s.mu.Unlock()
	case opCAS:
		prev, value, err := readString(rest)
		if err != nil {
			return nil, err
		}
		s.mu.RLock()
		cur, ok := s.data[key]
		s.mu.RUnlock()
		if !ok || string(cur) != prev {
			return []byte{resultMismatch}, nil
		}
		s.set(key, value)
	default:
		return nil, fmt.Errorf("%w: unknown opcode %q", errMalformed, op)
	}
	return []byte{resultOK}, nil
}

// set stores a copy of value: the command's buffer belongs to Raft.
func (s *store) set(key string, value []byte) {
	v := append(make([]byte, 0, len(value)), value...)
	s.mu.Lock()
	s.data[key] = v
	s.mu.Unlock()
}

// Query answers a get: one byte 1 or 0 for found, then the value.
func (s *store) Query(q []byte) ([]byte, error) {
	if len(q) == 0 {
		return nil, errMalformed
	}
	switch q[0] {
	case queryGet:
		s.mu.RLock()
		v, ok := s.data[string(q[1:])]
		s.mu.RUnlock()
		if !ok {
			return []byte{0}, nil
		}
		return append(append(make([]byte, 0, 1+len(v)), 1), v...), nil
	default:
		return nil, fmt.Errorf("%w: unknown query %q", errMalformed, q[0])
	}
}

// decodeGet splits a get query's result into the value and whether the key
// was found.
func decodeGet(res []byte) ([]byte, bool, error) {
	if len(res) == 0 || res[0] > 1 {
		return nil, false, errMalformed
	}
	return res[1:], res[0] == 1, nil
}
