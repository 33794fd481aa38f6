package rpc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

func encode(t testing.TB, f Frame) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, WriteFrame(&buf, f))
	return buf.Bytes()
}

func TestFrameRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320 KB: read in chunks
	frames := []Frame{
		{Type: FrameRequest, ID: 1, Method: 7, Timeout: 1500, Payload: []byte("hello")},
		{Type: FrameRequest, ID: 1<<64 - 1, Method: 255},
		{Type: FrameResponse, ID: 42, Payload: []byte{0, 1, 2}},
		{Type: FrameResponse, ID: 43},
		{Type: FrameError, ID: 9, Code: 0xFFFF, Payload: []byte("not leader")},
		{Type: FrameResponse, ID: 10, Payload: big},
	}
	var stream bytes.Buffer
	for _, f := range frames {
		require.NoError(t, WriteFrame(&stream, f))
	}
	for _, want := range frames {
		got, err := ReadFrame(&stream, 1<<20)
		require.NoError(t, err)
		require.Equal(t, want.Type, got.Type)
		require.Equal(t, want.ID, got.ID)
		require.Equal(t, want.Method, got.Method)
		require.Equal(t, want.Code, got.Code)
		require.Equal(t, want.Timeout, got.Timeout)
		require.True(t, bytes.Equal(want.Payload, got.Payload))
	}
	_, err := ReadFrame(&stream, 1<<20)
	require.ErrorIs(t, err, io.EOF)
}

func TestFrameHeaderLayout(t *testing.T) {
	b := encode(t, Frame{Type: FrameError, ID: 0x0102030405060708, Code: 0x1234, Payload: []byte("x")})
	require.Equal(t, []byte{
		0, 0, 0, 17, // length: 16-byte header + 1
		1, 3, 0, 0, // version, type, method, flags
		1, 2, 3, 4, 5, 6, 7, 8, // id
		0, 0, 0x12, 0x34, // code
		'x',
	}, b)
}

func TestWriteFrameRejectsInconsistentFrames(t *testing.T) {
	for _, f := range []Frame{
		{Type: 0},
		{Type: 4},
		{Type: FrameRequest, Code: 1},
		{Type: FrameResponse, Method: 1},
		{Type: FrameResponse, Code: 1},
		{Type: FrameError, Timeout: 1},
	} {
		var buf bytes.Buffer
		err := WriteFrame(&buf, f)
		require.ErrorIs(t, err, ErrBadFrame, "%+v", f)
		require.Zero(t, buf.Len(), "nothing written for %+v", f)
	}
}

// headerOnly is a reader that yields one header and then fails the test if
// read further, proving an oversize payload is refused before it is read.
type headerOnly struct {
	t   *testing.T
	hdr []byte
}

func (r *headerOnly) Read(p []byte) (int, error) {
	if len(r.hdr) == 0 {
		r.t.Fatal("payload read after the length was refused")
	}
	n := copy(p, r.hdr)
	r.hdr = r.hdr[n:]
	return n, nil
}

func TestReadFrameRefusesOversizeBeforeReading(t *testing.T) {
	hdr := encode(t, Frame{Type: FrameRequest, ID: 1})
	binary.BigEndian.PutUint32(hdr[0:4], 0xFFFFFFFF)
	_, err := ReadFrame(&headerOnly{t: t, hdr: hdr}, 1024)
	require.ErrorIs(t, err, ErrFrameTooLarge)

	ok := encode(t, Frame{Type: FrameRequest, ID: 1, Payload: make([]byte, 1024)})
	_, err = ReadFrame(bytes.NewReader(ok), 1024)
	require.NoError(t, err, "a payload of exactly maxFrame is accepted")
	_, err = ReadFrame(bytes.NewReader(ok), 1023)
	require.ErrorIs(t, err, ErrFrameTooLarge)
}

func TestReadFrameMalformed(t *testing.T) {
	valid := encode(t, Frame{Type: FrameRequest, ID: 5, Method: 1, Payload: []byte("payload")})
	mutate := func(f func(b []byte)) []byte {
		b := bytes.Clone(valid)
		f(b)
		return b
	}
	cases := map[string]struct {
		in   []byte
		want error
	}{
		"empty":             {nil, io.EOF},
		"truncated header":  {valid[:10], ErrBadFrame},
		"truncated payload": {valid[:len(valid)-1], ErrBadFrame},
		"header only":       {valid[:prefixSize], ErrBadFrame},
		"short length":      {mutate(func(b []byte) { binary.BigEndian.PutUint32(b, 15) }), ErrBadFrame},
		"bad version":       {mutate(func(b []byte) { b[4] = 2 }), ErrBadFrame},
		"unknown type":      {mutate(func(b []byte) { b[5] = 9 }), ErrBadFrame},
		"flags set":         {mutate(func(b []byte) { b[7] = 1 }), ErrBadFrame},
		"response+method":   {mutate(func(b []byte) { b[5] = byte(FrameResponse) }), ErrBadFrame},
		"error code range": {mutate(func(b []byte) {
			b[5], b[6] = byte(FrameError), 0
			binary.BigEndian.PutUint32(b[16:], 0x10000)
		}), ErrBadFrame},
		"response arg": {mutate(func(b []byte) {
			b[5], b[6] = byte(FrameResponse), 0
			binary.BigEndian.PutUint32(b[16:], 1)
		}), ErrBadFrame},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ReadFrame(bytes.NewReader(tc.in), 1<<20)
			require.ErrorIs(t, err, tc.want)
		})
	}
}

func TestReadFrameDefaultLimit(t *testing.T) {
	hdr := encode(t, Frame{Type: FrameRequest, ID: 1})
	binary.BigEndian.PutUint32(hdr[0:4], headerSize+DefaultMaxFrame+1)
	_, err := ReadFrame(bytes.NewReader(hdr), 0)
	require.ErrorIs(t, err, ErrFrameTooLarge)
}

func TestReadFrameKeepsReaderErrors(t *testing.T) {
	boom := errors.New("boom")
	_, err := ReadFrame(io.MultiReader(bytes.NewReader([]byte{0, 0}), errReader{boom}), 1024)
	require.ErrorIs(t, err, boom)
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// FuzzReadFrame feeds arbitrary bytes to ReadFrame: it must never panic, and
// whatever it accepts must encode back to the bytes it consumed.
func FuzzReadFrame(f *testing.F) {
	for _, fr := range []Frame{
		{Type: FrameRequest, ID: 1, Method: 3, Timeout: 250, Payload: []byte("apply")},
		{Type: FrameResponse, ID: 2, Payload: []byte{1, 2, 3}},
		{Type: FrameError, ID: 3, Code: CodeInternal, Payload: []byte("boom")},
		{Type: FrameResponse, ID: 4},
	} {
		b := encode(f, fr)
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{})
	f.Add([]byte{0xFF, 0xFF, 0xFF, 0xFF, 1, 1, 0, 0})
	f.Add([]byte{0, 0, 0, 16, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		fr, err := ReadFrame(r, 4096)
		if err != nil {
			return
		}
		consumed := data[:len(data)-r.Len()]
		var out bytes.Buffer
		if err := WriteFrame(&out, fr); err != nil {
			t.Fatalf("accepted frame does not encode: %v", err)
		}
		if !bytes.Equal(out.Bytes(), consumed) {
			t.Fatalf("round trip mismatch:\n in  %x\n out %x", consumed, out.Bytes())
		}
	})
}
