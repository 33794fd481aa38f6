package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

var errTest = errors.New("test: bad message")

func TestRoundTrip(t *testing.T) {
	var b []byte
	b = append(b, 7)
	b = AppendUint16(b, 0xbeef)
	b = AppendUint64(b, math.MaxUint64-1)
	b = AppendUvarint(b, 300)
	b = AppendBytes(b, []byte("cmd"))
	b = AppendBytes(b, nil)
	b = AppendString(b, "n1")
	b = append(b, "rest"...)

	d := NewDecoder(b, errTest)
	require.Equal(t, uint8(7), d.Uint8("u8"))
	require.Equal(t, uint16(0xbeef), d.Uint16("u16"))
	require.Equal(t, uint64(math.MaxUint64-1), d.Uint64("u64"))
	require.Equal(t, 300, d.Count("count", 300, 0))
	require.Equal(t, []byte("cmd"), d.Bytes("bytes", 3))
	require.Empty(t, d.Bytes("empty", 0))
	require.Equal(t, "n1", d.String("string", 2))
	require.Equal(t, 4, d.Len())
	require.Equal(t, []byte("rest"), d.Rest("rest", 4))
	require.NoError(t, d.Finish())
}

func TestSizes(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 16383, 16384, 1<<28 - 1, 1 << 28, 1<<63 - 1, math.MaxUint64} {
		require.Len(t, AppendUvarint(nil, v), UvarintSize(v), "%d", v)
	}
	for _, n := range []int{0, 5, 127, 128, 1 << 20} {
		require.Len(t, AppendBytes(nil, make([]byte, n)), BytesSize(n), "%d", n)
	}
}

func TestDecoderRejects(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		read func(d *Decoder)
		kind error
	}{
		{"empty u8", nil, func(d *Decoder) { d.Uint8("u8") }, ErrTruncated},
		{"short u16", []byte{1}, func(d *Decoder) { d.Uint16("u16") }, ErrTruncated},
		{"short u64", make([]byte, 7), func(d *Decoder) { d.Uint64("u64") }, ErrTruncated},
		{"truncated varint", []byte{0x80}, func(d *Decoder) { d.Uvarint("n") }, ErrTruncated},
		{"varint overflow", bytes.Repeat([]byte{0xff}, 11), func(d *Decoder) { d.Uvarint("n") }, ErrBadVarint},
		{"varint not shortest", []byte{0x80, 0x00}, func(d *Decoder) { d.Uvarint("n") }, ErrBadVarint},
		{"count over limit", []byte{3, 0, 0, 0}, func(d *Decoder) { d.Count("n", 2, 1) }, ErrTooLong},
		{"count cannot fit", []byte{3, 0, 0}, func(d *Decoder) { d.Count("n", 10, 1) }, ErrTruncated},
		{"bytes over limit", []byte{3, 'a', 'b', 'c'}, func(d *Decoder) { d.Bytes("b", 2) }, ErrTooLong},
		{"huge length", binary.AppendUvarint(nil, 1<<40), func(d *Decoder) { d.Bytes("b", math.MaxInt) }, ErrTruncated},
		{"truncated bytes", []byte{3, 'a'}, func(d *Decoder) { d.String("s", 10) }, ErrTruncated},
		{"rest over limit", []byte("abc"), func(d *Decoder) { d.Rest("r", 2) }, ErrTooLong},
		{"trailing", []byte{1, 2}, func(d *Decoder) { d.Uint8("u8") }, ErrTrailing},
		{"invalid", []byte{9}, func(d *Decoder) {
			if d.Uint8("kind") != 1 {
				d.Failf("unknown kind")
			}
		}, ErrInvalid},
	}
	kinds := []error{ErrTruncated, ErrTooLong, ErrBadVarint, ErrTrailing, ErrInvalid}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := NewDecoder(c.in, errTest)
			c.read(&d)
			err := d.Finish()
			require.ErrorIs(t, err, errTest)
			require.ErrorIs(t, err, c.kind)
			for _, k := range kinds {
				if k != c.kind {
					require.NotErrorIs(t, err, k)
				}
			}
			require.Regexp(t, "^test: bad message: ", err.Error())
		})
	}
}

// After the first error every read returns a zero value and the error stays
// the first one.
func TestDecoderFirstErrorSticks(t *testing.T) {
	d := NewDecoder([]byte{5, 'a', 'b', 'c', 'd', 'e', 1, 2, 3}, nil)
	require.Empty(t, d.Bytes("first", 2))
	first := d.Err()
	require.ErrorIs(t, first, ErrTooLong)
	require.ErrorIs(t, first, ErrMalformed)
	require.Zero(t, d.Uint8("u8"))
	require.Zero(t, d.Uint64("u64"))
	require.Zero(t, d.Count("n", 10, 0))
	require.Nil(t, d.Rest("rest", 100))
	d.Failf("later")
	require.Same(t, first, d.Finish())
}

// A returned slice cannot be appended to over the rest of the message.
func TestDecoderSlicesAreCapped(t *testing.T) {
	in := AppendBytes(nil, []byte("ab"))
	in = append(in, 'z')
	d := NewDecoder(in, errTest)
	v := d.Bytes("v", 10)
	require.Equal(t, len(v), cap(v))
	_ = append(v, 'x')
	require.Equal(t, byte('z'), in[3])
}
