package bench

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/conclave-go/conclave/consensus"
)

// keySpace bounds the keys the state machine holds, so its memory stays
// bounded however long a run lasts.
const keySpace = 4096

// maxSnapshotValue bounds a value read back from a snapshot.
const maxSnapshotValue = 1 << 20

// errShortCommand reports a command or query without its 8-byte key.
var errShortCommand = errors.New("bench: command shorter than its 8-byte key")

// kv is the state both the baseline and Conclave replicate: a map from a key
// (the command's first 8 bytes, modulo keySpace) to the rest of the command.
// Apply returns the number of commands applied so far, as 8 bytes.
type kv struct {
	mu      sync.RWMutex // guards data and applied
	data    map[uint64][]byte
	applied uint64
}

func newKV() *kv { return &kv{data: make(map[uint64][]byte)} }

// Command builds a command of size bytes (at least 8) writing key.
func Command(key uint64, size int) []byte {
	cmd := make([]byte, max(size, 8))
	binary.LittleEndian.PutUint64(cmd, key)
	for i := 8; i < len(cmd); i++ {
		cmd[i] = byte(i)
	}
	return cmd
}

// Query builds a query reading key.
func Query(key uint64) []byte {
	return binary.LittleEndian.AppendUint64(nil, key)
}

func (s *kv) apply(cmd []byte) ([]byte, error) {
	if len(cmd) < 8 {
		return nil, errShortCommand
	}
	key := binary.LittleEndian.Uint64(cmd) % keySpace
	s.mu.Lock()
	s.data[key] = cmd[8:]
	s.applied++
	n := s.applied
	s.mu.Unlock()
	return binary.LittleEndian.AppendUint64(nil, n), nil
}

// get returns the length of the value under the query's key, as 8 bytes.
func (s *kv) get(q []byte) ([]byte, error) {
	if len(q) < 8 {
		return nil, errShortCommand
	}
	key := binary.LittleEndian.Uint64(q) % keySpace
	s.mu.RLock()
	n := len(s.data[key])
	s.mu.RUnlock()
	return binary.LittleEndian.AppendUint64(nil, uint64(n)), nil
}

// capture returns a point-in-time copy of the map; values are never
// modified in place, so a shallow copy suffices.
func (s *kv) capture() map[uint64][]byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m := make(map[uint64][]byte, len(s.data))
	for k, v := range s.data {
		m[k] = v
	}
	return m
}

// writeSnapshot streams m as (key, length, value) records.
func writeSnapshot(w io.Writer, m map[uint64][]byte) error {
	bw := bufio.NewWriter(w)
	var hdr [16]byte
	for k, v := range m {
		binary.LittleEndian.PutUint64(hdr[:8], k)
		binary.LittleEndian.PutUint64(hdr[8:], uint64(len(v)))
		if _, err := bw.Write(hdr[:]); err != nil {
			return err
		}
		if _, err := bw.Write(v); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// restore replaces the map with the records read from r.
func (s *kv) restore(r io.Reader) error {
	br := bufio.NewReader(r)
	m := make(map[uint64][]byte, keySpace)
	var hdr [16]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err == io.EOF {
			break
		} else if err != nil {
			return fmt.Errorf("bench: restore: %w", err)
		}
		n := binary.LittleEndian.Uint64(hdr[8:])
		if n > maxSnapshotValue {
			return fmt.Errorf("bench: restore: value of %d bytes", n)
		}
		v := make([]byte, n)
		if _, err := io.ReadFull(br, v); err != nil {
			return fmt.Errorf("bench: restore: %w", err)
		}
		m[binary.LittleEndian.Uint64(hdr[:8])%keySpace] = v
	}
	s.mu.Lock()
	s.data = m
	s.mu.Unlock()
	return nil
}

// raftFSM is the baseline's raft.FSM over kv.
type raftFSM struct{ kv *kv }

var (
	_ raft.FSM         = raftFSM{}
	_ raft.FSMSnapshot = raftSnapshot{}
)

type raftResult struct {
	data []byte
	err  error
}

func (f raftFSM) Apply(l *raft.Log) interface{} {
	data, err := f.kv.apply(l.Data)
	return raftResult{data, err}
}

func (f raftFSM) Snapshot() (raft.FSMSnapshot, error) {
	return raftSnapshot{f.kv.capture()}, nil
}

func (f raftFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	return f.kv.restore(rc)
}

type raftSnapshot struct{ m map[uint64][]byte }

func (s raftSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := writeSnapshot(sink, s.m); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s raftSnapshot) Release() {}

// smFSM is Conclave's StateMachine and Querier over kv.
type smFSM struct{ kv *kv }

var (
	_ consensus.StateMachine = smFSM{}
	_ consensus.Querier      = smFSM{}
)

func (f smFSM) Apply(cmd []byte) ([]byte, error) { return f.kv.apply(cmd) }

func (f smFSM) Query(q []byte) ([]byte, error) { return f.kv.get(q) }

func (f smFSM) Snapshot() (consensus.Snapshot, error) {
	m := f.kv.capture()
	return consensus.SnapshotFunc{WriteFunc: func(w io.Writer) error { return writeSnapshot(w, m) }}, nil
}

func (f smFSM) Restore(r io.Reader) error { return f.kv.restore(r) }
