// Package wire is the one binary encoding of Conclave's own messages: the
// consensus RPC payloads and the membership metadata gossiped by memberlist.
//
// The encoding has two kinds of field:
//
//   - fixed-size integers (u8, u16, u64), big-endian;
//   - lengths and counts, as unsigned varints (encoding/binary's Uvarint) in
//     their shortest form, so that every value has exactly one encoding.
//
// A length-prefixed field (bytes or string) is its length then its bytes.
//
// Encoding appends to a byte slice (AppendX). Decoding goes through a
// [Decoder], which is strict: it reports truncation, a length or count over
// the limit the caller gives, a varint not in its shortest form, and
// trailing bytes, each as an error that matches both the caller's sentinel
// (for example consensus.ErrProtocol) and one of this package's kinds
// ([ErrTruncated], [ErrTooLong], [ErrBadVarint], [ErrTrailing], [ErrInvalid]).
// A Decoder never panics and allocates nothing in proportion to a length it
// has not checked against the bytes it holds.
package wire

import (
	"encoding/binary"
	"math/bits"
)

// AppendUint16 appends v, big-endian.
func AppendUint16(b []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(b, v) }

// AppendUint64 appends v, big-endian.
func AppendUint64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

// AppendUvarint appends v as a length or count: a varint in its shortest
// form.
func AppendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

// AppendBytes appends p, length-prefixed.
func AppendBytes(b, p []byte) []byte {
	b = AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

// AppendString appends s, length-prefixed.
func AppendString(b []byte, s string) []byte {
	b = AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// UvarintSize is the encoded size of v as a length or count: 1 to 10 bytes.
func UvarintSize(v uint64) int {
	return max(1, (bits.Len64(v)+6)/7)
}

// BytesSize is the encoded size of a length-prefixed field of n bytes.
func BytesSize(n int) int { return UvarintSize(uint64(n)) + n }
