package consensus

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
)

// ErrBadSnapshot is matched by the error [Node.Restore] and [VerifySnapshot]
// return for a stream that is not a complete, intact snapshot written by
// [Node.Snapshot]: truncated, corrupted, of another format or version. The
// message gives the reason.
var ErrBadSnapshot = errors.New("consensus: bad snapshot")

// The snapshot stream [Node.Snapshot] writes, big-endian:
//
//	magic    8 bytes  "CNCLSNAP"
//	version  1 byte   1
//	index    8 bytes  Raft index the state reflects
//	term     8 bytes  term of that entry
//	length   8 bytes  payload length
//	payload  length bytes: what the state machine's Snapshot.Write produced
//	checksum 32 bytes SHA-256 of everything above
//
// Nothing may follow the checksum.
const (
	backupMagic      = "CNCLSNAP"
	backupVersion    = 1
	backupHeaderSize = len(backupMagic) + 1 + 3*8
	backupSumSize    = sha256.Size
)

// SnapshotInfo describes a snapshot stream.
type SnapshotInfo struct {
	// Index and Term identify the last Raft entry the state reflects.
	Index uint64
	Term  uint64
	// Size is the length of the state machine's payload, in bytes.
	Size int64
}

// VerifySnapshot reads a whole snapshot stream written by [Node.Snapshot]
// and checks its format and checksum. It returns what the header says, or
// an error matching [ErrBadSnapshot] with the reason.
func VerifySnapshot(r io.Reader) (SnapshotInfo, error) {
	return readBackup(r, io.Discard)
}

func badSnapshot(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadSnapshot, fmt.Sprintf(format, args...))
}

// writeBackup writes the stream: header, size bytes of payload, checksum.
func writeBackup(w io.Writer, info SnapshotInfo, payload io.Reader) error {
	h := sha256.New()
	mw := io.MultiWriter(w, h)
	var hdr [backupHeaderSize]byte
	copy(hdr[:], backupMagic)
	hdr[len(backupMagic)] = backupVersion
	binary.BigEndian.PutUint64(hdr[len(backupMagic)+1:], info.Index)
	binary.BigEndian.PutUint64(hdr[len(backupMagic)+9:], info.Term)
	binary.BigEndian.PutUint64(hdr[len(backupMagic)+17:], uint64(info.Size))
	if _, err := mw.Write(hdr[:]); err != nil {
		return err
	}
	n, err := io.CopyN(mw, payload, info.Size)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("consensus: snapshot: the stored snapshot ended after %d of %d bytes", n, info.Size)
		}
		return err
	}
	_, err = w.Write(h.Sum(nil))
	return err
}

// readBackup checks the stream r and copies its payload to dst. dst holds
// the payload only once the checksum, read last, matched: until readBackup
// returns nil, what dst received must not be used.
func readBackup(r io.Reader, dst io.Writer) (SnapshotInfo, error) {
	var info SnapshotInfo
	h := sha256.New()
	tr := io.TeeReader(r, h)
	var hdr [backupHeaderSize]byte
	if n, err := io.ReadFull(tr, hdr[:]); err != nil {
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return info, fmt.Errorf("consensus: read snapshot: %w", err)
		}
		if n == 0 {
			return info, badSnapshot("empty stream")
		}
		if n < len(backupMagic) || string(hdr[:len(backupMagic)]) != backupMagic {
			return info, badSnapshot("not a Conclave snapshot (%d bytes, no %q header)", n, backupMagic)
		}
		return info, readFailure(err, "truncated header (%d of %d bytes)", n, backupHeaderSize)
	}
	if string(hdr[:len(backupMagic)]) != backupMagic {
		return info, badSnapshot("not a Conclave snapshot (starts with %q, want %q)", hdr[:len(backupMagic)], backupMagic)
	}
	if v := hdr[len(backupMagic)]; v != backupVersion {
		return info, badSnapshot("format version %d, this build reads version %d", v, backupVersion)
	}
	info.Index = binary.BigEndian.Uint64(hdr[len(backupMagic)+1:])
	info.Term = binary.BigEndian.Uint64(hdr[len(backupMagic)+9:])
	size := binary.BigEndian.Uint64(hdr[len(backupMagic)+17:])
	if size > 1<<62 {
		return info, badSnapshot("payload length %d is not plausible", size)
	}
	info.Size = int64(size)
	if info.Index == 0 || info.Term == 0 {
		return info, badSnapshot("index %d, term %d: both must be positive", info.Index, info.Term)
	}
	if n, err := io.CopyN(dst, tr, info.Size); err != nil {
		return info, readFailure(err, "truncated payload (%d of %d bytes)", n, info.Size)
	}
	return info, checkSum(r, h)
}

// checkSum reads the checksum that ends the stream and compares it with h.
func checkSum(r io.Reader, h hash.Hash) error {
	want := h.Sum(nil)
	var got [backupSumSize]byte
	if n, err := io.ReadFull(r, got[:]); err != nil {
		return readFailure(err, "truncated checksum (%d of %d bytes)", n, backupSumSize)
	}
	if subtle.ConstantTimeCompare(got[:], want) != 1 {
		return badSnapshot("checksum mismatch: the file is corrupted")
	}
	var extra [1]byte
	if n, _ := io.ReadFull(r, extra[:]); n > 0 {
		return badSnapshot("data after the checksum")
	}
	return nil
}

// readFailure reports a short read as a truncated stream and passes other
// read errors on.
func readFailure(err error, format string, args ...any) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return badSnapshot(format, args...)
	}
	return fmt.Errorf("consensus: read snapshot: %w", err)
}

// innerHeader is the adapter's header that precedes the state machine's
// payload in raft's snapshot store.
func innerHeader(index uint64) []byte {
	var b bytes.Buffer
	_ = writeSnapshotHeader(&b, index)
	return b.Bytes()
}
