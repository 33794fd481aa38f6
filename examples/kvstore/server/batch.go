package server

import (
	"encoding/binary"
	"fmt"
)

// A batch is one Raft entry carrying many operations, applied in order
// under one lock, so no read sees part of it:
//
//	opBatch | mode | uvarint count | op*
//	op = kind | uvarint len(key) | key
//	     [| uvarint len(prev) | prev]     (opCAS)
//	     [| uvarint len(value) | value]   (opPut, opCAS)
//
// kind is opPut, opCAS, opDelete or batchGet. Its result holds one code per
// operation, in order, codeFound followed by uvarint len(value) | value.
const (
	opBatch  byte = 'B'
	batchGet byte = 'G' // a read inside a batch: it sees the batch's earlier writes
)

// Batch modes.
const (
	batchEach   byte = 0 // every operation on its own: a failed CAS skips only itself
	batchAtomic byte = 1 // all or nothing: a failed CAS undoes the whole batch
)

// Result codes of the operations of a batch.
const (
	codeOK         byte = 0 // put, delete or CAS applied
	codeMismatch   byte = 1 // CAS did not hold
	codeFound      byte = 2 // get: the value follows
	codeNotFound   byte = 3 // get: the key is absent
	codeNotApplied byte = 4 // atomic batch undone by another operation's failed CAS
	codeTooLarge   byte = 5 // get: the value would take the result over its limit
)

// batchOp is one decoded operation of a batch.
type batchOp struct {
	kind  byte
	key   string
	prev  string
	value []byte
}

// encodeBatch encodes ops as one command.
func encodeBatch(atomic bool, ops []batchOp) []byte {
	size := 2 + binary.MaxVarintLen64
	for _, op := range ops {
		size += 1 + 3*binary.MaxVarintLen64 + len(op.key) + len(op.prev) + len(op.value)
	}
	mode := batchEach
	if atomic {
		mode = batchAtomic
	}
	b := append(make([]byte, 0, size), opBatch, mode)
	b = binary.AppendUvarint(b, uint64(len(ops)))
	for _, op := range ops {
		b = appendString(append(b, op.kind), op.key)
		if op.kind == opCAS {
			b = appendString(b, op.prev)
		}
		if op.kind == opPut || op.kind == opCAS {
			b = binary.AppendUvarint(b, uint64(len(op.value)))
			b = append(b, op.value...)
		}
	}
	return b
}

// decodeBatch decodes the body of an opBatch command (after its opcode).
// The values it returns alias b.
func decodeBatch(b []byte) (atomic bool, ops []batchOp, err error) {
	if len(b) < 1 || b[0] > batchAtomic {
		return false, nil, fmt.Errorf("%w: bad batch mode", errMalformed)
	}
	atomic, b = b[0] == batchAtomic, b[1:]
	n, size := binary.Uvarint(b)
	// Every operation takes at least two bytes: a cap on the allocation.
	if size <= 0 || n > uint64(len(b)-size)/2 {
		return false, nil, fmt.Errorf("%w: bad batch count", errMalformed)
	}
	b = b[size:]
	ops = make([]batchOp, n)
	for i := range ops {
		if ops[i], b, err = decodeBatchOp(b); err != nil {
			return false, nil, err
		}
	}
	if len(b) != 0 {
		return false, nil, fmt.Errorf("%w: %d bytes after the batch", errMalformed, len(b))
	}
	return atomic, ops, nil
}

func decodeBatchOp(b []byte) (batchOp, []byte, error) {
	if len(b) == 0 {
		return batchOp{}, nil, fmt.Errorf("%w: truncated batch", errMalformed)
	}
	op := batchOp{kind: b[0]}
	var err error
	if op.key, b, err = readString(b[1:]); err != nil {
		return op, nil, err
	}
	switch op.kind {
	case opDelete, batchGet:
		return op, b, nil
	case opCAS:
		if op.prev, b, err = readString(b); err != nil {
			return op, nil, err
		}
	case opPut:
	default:
		return op, nil, fmt.Errorf("%w: unknown batch operation %q", errMalformed, op.kind)
	}
	n, size := binary.Uvarint(b)
	if size <= 0 || n > uint64(len(b)-size) {
		return op, nil, errMalformed
	}
	op.value, b = b[size:size+int(n)], b[size+int(n):]
	return op, b, nil
}

// undo restores one key as it was before a batch changed it.
type undo struct {
	key     string
	value   []byte
	present bool
}

// applyBatch applies a decoded batch. It decodes the whole command before
// it changes anything, so a malformed batch changes nothing. The outcome
// depends only on the state and the command: every server computes the
// same.
func (s *store) applyBatch(body []byte) ([]byte, error) {
	atomic, ops, err := decodeBatch(body)
	if err != nil {
		return nil, err
	}
	res := make([]byte, 0, len(ops))
	var undos []undo
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, op := range ops {
		if atomic && op.kind != batchGet {
			cur, ok := s.data[op.key]
			undos = append(undos, undo{op.key, cur, ok})
		}
		code, value := s.applyOp(op, len(res))
		if code == codeMismatch && atomic {
			s.rollback(undos)
			return abortedResult(len(ops), i), nil
		}
		res = append(res, code)
		if code == codeFound {
			res = binary.AppendUvarint(res, uint64(len(value)))
			res = append(res, value...)
		}
	}
	return res, nil
}

// applyOp applies one operation with s.mu held. used is the size of the
// batch's result so far: a get whose value would take it over the store's
// message limit answers codeTooLarge instead.
func (s *store) applyOp(op batchOp, used int) (byte, []byte) {
	switch op.kind {
	case opPut:
		s.data[op.key] = append(make([]byte, 0, len(op.value)), op.value...)
	case opDelete:
		delete(s.data, op.key)
	case opCAS:
		cur, ok := s.data[op.key]
		if !ok || string(cur) != op.prev {
			return codeMismatch, nil
		}
		s.data[op.key] = append(make([]byte, 0, len(op.value)), op.value...)
	case batchGet:
		v, ok := s.data[op.key]
		switch {
		case !ok:
			return codeNotFound, nil
		case used+1+binary.MaxVarintLen64+len(v) > s.maxEntry:
			return codeTooLarge, nil
		}
		return codeFound, v
	}
	return codeOK, nil
}

// rollback undoes an atomic batch's changes, newest first.
func (s *store) rollback(undos []undo) {
	for i := len(undos) - 1; i >= 0; i-- {
		u := undos[i]
		if u.present {
			s.data[u.key] = u.value
		} else {
			delete(s.data, u.key)
		}
	}
}

// abortedResult is the result of an atomic batch whose operation at index
// failed: codeMismatch for it, codeNotApplied for every other one.
func abortedResult(n, failed int) []byte {
	res := make([]byte, n)
	for i := range res {
		res[i] = codeNotApplied
	}
	res[failed] = codeMismatch
	return res
}

// batchResult is one operation's outcome, decoded from a batch's result.
type batchResult struct {
	code  byte
	value []byte
}

// decodeBatchResult splits a batch's result into n outcomes.
func decodeBatchResult(res []byte, n int) ([]batchResult, error) {
	out := make([]batchResult, n)
	for i := range out {
		if len(res) == 0 || res[0] > codeTooLarge {
			return nil, fmt.Errorf("%w: batch result %d", errMalformed, i)
		}
		out[i].code, res = res[0], res[1:]
		if out[i].code != codeFound {
			continue
		}
		v, size := binary.Uvarint(res)
		if size <= 0 || v > uint64(len(res)-size) {
			return nil, fmt.Errorf("%w: batch result %d", errMalformed, i)
		}
		out[i].value, res = res[size:size+int(v)], res[size+int(v):]
	}
	if len(res) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the batch result", errMalformed, len(res))
	}
	return out, nil
}
