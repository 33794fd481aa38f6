package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Kinds of decoding error. Every error a [Decoder] reports matches exactly
// one of them, and the Decoder's sentinel.
var (
	ErrTruncated = errors.New("wire: truncated")
	ErrTooLong   = errors.New("wire: over the limit")
	ErrBadVarint = errors.New("wire: malformed varint")
	ErrTrailing  = errors.New("wire: trailing bytes")
	// ErrInvalid is the kind of the errors callers report with Failf: a
	// well-formed field holding a value the message does not allow.
	ErrInvalid = errors.New("wire: invalid value")
)

// ErrMalformed is the sentinel of a Decoder made with a nil one.
var ErrMalformed = errors.New("wire: malformed message")

// decodeError is the error a Decoder reports: its text is the sentinel's
// then what was wrong; it matches the sentinel and the kind.
type decodeError struct {
	sentinel, kind error
	msg            string
}

func (e *decodeError) Error() string   { return e.sentinel.Error() + ": " + e.msg }
func (e *decodeError) Unwrap() []error { return []error{e.sentinel, e.kind} }

// Decoder reads the fields of one message in order. It remembers the first
// error; after it every read returns a zero value, so a caller reads every
// field and checks once, with [Decoder.Finish]. The slices it returns alias
// the message (with their capacity cut to their length).
type Decoder struct {
	b        []byte
	sentinel error
	err      error
}

// NewDecoder returns a decoder of b whose errors match sentinel (or
// [ErrMalformed] when sentinel is nil).
func NewDecoder(b []byte, sentinel error) Decoder {
	if sentinel == nil {
		sentinel = ErrMalformed
	}
	return Decoder{b: b, sentinel: sentinel}
}

// Err returns the first error, or nil.
func (d *Decoder) Err() error { return d.err }

// Len returns the number of bytes not read yet.
func (d *Decoder) Len() int { return len(d.b) }

// Finish returns the first error, or an [ErrTrailing] error when bytes are
// left unread.
func (d *Decoder) Finish() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail(ErrTrailing, "%d trailing bytes", len(d.b))
	}
	return d.err
}

// Failf records an [ErrInvalid] error, unless an error is already recorded.
func (d *Decoder) Failf(format string, args ...any) { d.fail(ErrInvalid, format, args...) }

func (d *Decoder) fail(kind error, format string, args ...any) {
	if d.err == nil {
		d.err = &decodeError{sentinel: d.sentinel, kind: kind, msg: fmt.Sprintf(format, args...)}
	}
}

// take returns the next n bytes, or nil after an error.
func (d *Decoder) take(n uint64, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail(ErrTruncated, "%s: need %d bytes, have %d", what, n, len(d.b))
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// Uint8 reads one byte.
func (d *Decoder) Uint8(what string) uint8 {
	if v := d.take(1, what); v != nil {
		return v[0]
	}
	return 0
}

// Uint16 reads a big-endian u16.
func (d *Decoder) Uint16(what string) uint16 {
	if v := d.take(2, what); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

// Uint64 reads a big-endian u64.
func (d *Decoder) Uint64(what string) uint64 {
	if v := d.take(8, what); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// Uvarint reads a length or count, which must be in its shortest form.
func (d *Decoder) Uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	switch {
	case n == 0:
		d.fail(ErrTruncated, "%s: truncated varint", what)
		return 0
	case n < 0:
		d.fail(ErrBadVarint, "%s: varint overflows 64 bits", what)
		return 0
	case n != UvarintSize(v):
		d.fail(ErrBadVarint, "%s: varint not in its shortest form", what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Count reads a count of at most limit items, each of which takes at least
// minItemSize bytes: a count whose items cannot fit in the bytes left is
// truncated. Sizing a slice by the count is then safe.
func (d *Decoder) Count(what string, limit, minItemSize int) int {
	n := d.Uvarint(what)
	switch {
	case d.err != nil:
		return 0
	case n > uint64(max(limit, 0)):
		d.fail(ErrTooLong, "%s %d, at most %d allowed", what, n, limit)
		return 0
	case minItemSize > 0 && n > uint64(len(d.b)/minItemSize):
		d.fail(ErrTruncated, "%s %d: %d items of at least %d bytes cannot fit in %d bytes",
			what, n, n, minItemSize, len(d.b))
		return 0
	}
	return int(n)
}

// Bytes reads a length-prefixed field of at most limit bytes.
func (d *Decoder) Bytes(what string, limit int) []byte {
	n := d.Uvarint(what + " length")
	if d.err == nil && n > uint64(max(limit, 0)) {
		d.fail(ErrTooLong, "%s of %d bytes, at most %d allowed", what, n, limit)
	}
	return d.take(n, what)
}

// String reads a length-prefixed field of at most limit bytes.
func (d *Decoder) String(what string, limit int) string {
	return string(d.Bytes(what, limit))
}

// Rest reads every byte left, at most limit of them.
func (d *Decoder) Rest(what string, limit int) []byte {
	if d.err == nil && len(d.b) > limit {
		d.fail(ErrTooLong, "%s of %d bytes, at most %d allowed", what, len(d.b), limit)
	}
	return d.take(uint64(len(d.b)), what)
}
