package server

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"

	"github.com/conclave-go/conclave/consensus"
)

// The snapshot stream is
//
//	"kvs1" | entry* | uvarint 0
//	entry = uvarint len(key)+1 | key | uvarint len(value) | value
//
// so it is written one entry at a time and read back the same way, without
// holding the whole stream in memory at either end.
const snapshotMagic = "kvs1"

// Snapshot takes a point-in-time view: a shallow copy of the map, which is
// cheap because values are never modified in place.
func (s *store) Snapshot() (consensus.Snapshot, error) {
	s.mu.RLock()
	view := maps.Clone(s.data)
	s.mu.RUnlock()
	return consensus.SnapshotFunc{WriteFunc: func(w io.Writer) error {
		return writeSnapshot(w, view)
	}}, nil
}

func writeSnapshot(w io.Writer, data map[string][]byte) error {
	bw := bufio.NewWriter(w)
	if _, err := bw.WriteString(snapshotMagic); err != nil {
		return err
	}
	var hdr [binary.MaxVarintLen64]byte
	for k, v := range data {
		bw.Write(binary.AppendUvarint(hdr[:0], uint64(len(k))+1))
		bw.WriteString(k)
		bw.Write(binary.AppendUvarint(hdr[:0], uint64(len(v))))
		if _, err := bw.Write(v); err != nil {
			return err
		}
	}
	bw.WriteByte(0)
	return bw.Flush()
}

// Restore replaces the map with the one read from r, entry by entry.
func (s *store) Restore(r io.Reader) error {
	data, err := readSnapshot(bufio.NewReader(r), s.maxEntry)
	if err != nil {
		return fmt.Errorf("kvstore: restore: %w", err)
	}
	s.mu.Lock()
	s.data = data
	s.mu.Unlock()
	return nil
}

func readSnapshot(br *bufio.Reader, maxEntry int) (map[string][]byte, error) {
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(br, magic); err != nil {
		return nil, unexpected(err)
	}
	if string(magic) != snapshotMagic {
		return nil, fmt.Errorf("bad magic %q", magic)
	}
	data := make(map[string][]byte)
	for {
		klen, err := binary.ReadUvarint(br)
		if err != nil {
			return nil, unexpected(err)
		}
		if klen == 0 {
			return data, nil
		}
		key, err := readChunk(br, klen-1, maxEntry)
		if err != nil {
			return nil, err
		}
		vlen, err := binary.ReadUvarint(br)
		if err != nil {
			return nil, unexpected(err)
		}
		value, err := readChunk(br, vlen, maxEntry)
		if err != nil {
			return nil, err
		}
		data[string(key)] = value
	}
}

// readChunk reads n bytes, refusing lengths above limit so that a corrupt
// stream cannot make it allocate without bound.
func readChunk(r io.Reader, n uint64, limit int) ([]byte, error) {
	if n > uint64(limit) {
		return nil, fmt.Errorf("entry of %d bytes, limit %d", n, limit)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, unexpected(err)
	}
	return b, nil
}

// unexpected turns a clean EOF in the middle of the stream into
// io.ErrUnexpectedEOF: the stream must end with its terminator.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
