package rpc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Wire layout of a frame (all integers big-endian):
//
//	offset size field
//	0      4    length: number of bytes after this field (16 + payload)
//	4      1    version (1)
//	5      1    type (1 request, 2 response, 3 error)
//	6      1    method (requests; 0 otherwise)
//	7      1    flags (reserved; 0)
//	8      8    request id
//	16     4    argument: timeout in ms (requests), code (errors), 0 (responses)
//	20     n    payload
const (
	frameVersion = 1
	lengthSize   = 4
	headerSize   = 16 // bytes counted by the length field before the payload
	prefixSize   = lengthSize + headerSize
)

// DefaultMaxFrame is the payload limit used when a config leaves MaxFrame at 0.
const DefaultMaxFrame = 64 << 20

// MaxFrameLimit is the largest MaxFrame a config accepts.
const MaxFrameLimit = 1 << 30

// FrameType says what a frame carries.
type FrameType uint8

// Frame types.
const (
	FrameRequest  FrameType = 1 // a call: Method, Timeout and the request payload
	FrameResponse FrameType = 2 // a successful reply: the response payload
	FrameError    FrameType = 3 // a failed reply: Code and the message as payload
)

// String returns the type's name.
func (t FrameType) String() string {
	switch t {
	case FrameRequest:
		return "request"
	case FrameResponse:
		return "response"
	case FrameError:
		return "error"
	}
	return fmt.Sprintf("FrameType(%d)", uint8(t))
}

// Frame is one message on an RPC connection. A reply carries the ID of the
// request it answers.
type Frame struct {
	Type FrameType
	// ID matches a reply to its request; chosen by the caller, unique among
	// the requests in flight on one connection.
	ID uint64
	// Method selects the handler's operation. Requests only.
	Method uint8
	// Code is the error code. Error frames only.
	Code uint16
	// Timeout is the caller's remaining budget in milliseconds, 0 for none.
	// Requests only.
	Timeout uint32
	// Payload is the request, the response, or the error message.
	Payload []byte
}

// validate checks the fields that only some frame types may set.
func (f Frame) validate() error {
	switch f.Type {
	case FrameRequest:
		if f.Code != 0 {
			return fmt.Errorf("%w: request with code %d", ErrBadFrame, f.Code)
		}
	case FrameResponse, FrameError:
		if f.Method != 0 || f.Timeout != 0 {
			return fmt.Errorf("%w: %v with method %d, timeout %d", ErrBadFrame, f.Type, f.Method, f.Timeout)
		}
		if f.Type == FrameResponse && f.Code != 0 {
			return fmt.Errorf("%w: response with code %d", ErrBadFrame, f.Code)
		}
	default:
		return fmt.Errorf("%w: unknown type %d", ErrBadFrame, uint8(f.Type))
	}
	return nil
}

// WriteFrame encodes f to w. It returns an error, writing nothing, when f is
// inconsistent (a field its type may not set) or its payload exceeds
// [MaxFrameLimit]. The header and the payload are written with separate
// calls; use a buffered writer to coalesce them.
func WriteFrame(w io.Writer, f Frame) error {
	if err := f.validate(); err != nil {
		return err
	}
	if len(f.Payload) > MaxFrameLimit {
		return fmt.Errorf("%w: payload of %d bytes, limit %d", ErrFrameTooLarge, len(f.Payload), MaxFrameLimit)
	}
	var hdr [prefixSize]byte
	binary.BigEndian.PutUint32(hdr[0:4], uint32(headerSize+len(f.Payload)))
	hdr[4] = frameVersion
	hdr[5] = byte(f.Type)
	hdr[6] = f.Method
	binary.BigEndian.PutUint64(hdr[8:16], f.ID)
	arg := f.Timeout
	if f.Type == FrameError {
		arg = uint32(f.Code)
	}
	binary.BigEndian.PutUint32(hdr[16:20], arg)
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	if len(f.Payload) == 0 {
		return nil
	}
	_, err := w.Write(f.Payload)
	return err
}

// ReadFrame decodes one frame from r. A payload longer than maxFrame bytes
// (or [DefaultMaxFrame] when maxFrame <= 0) is refused with
// [ErrFrameTooLarge] before anything is allocated for it; a malformed header
// or a stream that ends inside a frame gives [ErrBadFrame]. A stream that
// ends cleanly between frames gives io.EOF. ReadFrame never panics.
func ReadFrame(r io.Reader, maxFrame int) (Frame, error) {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	var hdr [prefixSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return Frame{}, truncated(err, "header")
	}
	f, n, err := parseHeader(hdr)
	if err != nil {
		return Frame{}, err
	}
	if n > uint64(maxFrame) {
		return Frame{}, fmt.Errorf("%w: payload of %d bytes, limit %d", ErrFrameTooLarge, n, maxFrame)
	}
	if f.Payload, err = readPayload(r, int(n)); err != nil {
		return Frame{}, truncated(err, "payload")
	}
	return f, nil
}

// parseHeader decodes and checks a frame prefix, returning the frame without
// payload and the payload length.
func parseHeader(hdr [prefixSize]byte) (Frame, uint64, error) {
	length := binary.BigEndian.Uint32(hdr[0:4])
	if length < headerSize {
		return Frame{}, 0, fmt.Errorf("%w: length %d shorter than the header", ErrBadFrame, length)
	}
	if hdr[4] != frameVersion {
		return Frame{}, 0, fmt.Errorf("%w: unsupported version %d", ErrBadFrame, hdr[4])
	}
	if hdr[7] != 0 {
		return Frame{}, 0, fmt.Errorf("%w: unknown flags %#x", ErrBadFrame, hdr[7])
	}
	f := Frame{
		Type:   FrameType(hdr[5]),
		Method: hdr[6],
		ID:     binary.BigEndian.Uint64(hdr[8:16]),
	}
	arg := binary.BigEndian.Uint32(hdr[16:20])
	switch f.Type {
	case FrameRequest:
		f.Timeout = arg
	case FrameError:
		if arg > 0xFFFF {
			return Frame{}, 0, fmt.Errorf("%w: error code %d out of range", ErrBadFrame, arg)
		}
		f.Code = uint16(arg)
	case FrameResponse:
		if arg != 0 {
			return Frame{}, 0, fmt.Errorf("%w: response with argument %d", ErrBadFrame, arg)
		}
	}
	if err := f.validate(); err != nil {
		return Frame{}, 0, err
	}
	return f, uint64(length - headerSize), nil
}

// readPayload reads exactly n bytes. Large payloads are read in growing
// chunks, so memory follows the bytes that actually arrive rather than the
// length a peer announced.
func readPayload(r io.Reader, n int) ([]byte, error) {
	const chunk = 64 << 10
	if n == 0 {
		return nil, nil
	}
	if n <= chunk {
		buf := make([]byte, n)
		_, err := io.ReadFull(r, buf)
		return buf, err
	}
	buf := make([]byte, 0, chunk)
	for len(buf) < n {
		next := min(n, max(2*len(buf), chunk))
		if cap(buf) < next {
			grown := make([]byte, len(buf), next)
			copy(grown, buf)
			buf = grown
		}
		if _, err := io.ReadFull(r, buf[len(buf):next]); err != nil {
			return nil, err
		}
		buf = buf[:next]
	}
	return buf, nil
}

// truncated maps a short read inside a frame to ErrBadFrame, keeping a clean
// io.EOF (nothing read) as it is.
func truncated(err error, part string) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || (part == "payload" && errors.Is(err, io.EOF)) {
		return fmt.Errorf("%w: stream ended inside the frame %s: %w", ErrBadFrame, part, io.ErrUnexpectedEOF)
	}
	return err
}
