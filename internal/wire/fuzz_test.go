package wire

import (
	"bytes"
	"errors"
	"testing"
)

// sample is a message using every field type.
type sample struct {
	kind  uint8
	code  uint16
	index uint64
	name  string
	items [][]byte
	rest  []byte
}

const (
	sampleNameMax  = 16
	sampleItemsMax = 8
	sampleItemMax  = 32
	sampleRestMax  = 64
)

func (s sample) encode() []byte {
	b := append([]byte{s.kind}, AppendUint16(nil, s.code)...)
	b = AppendUint64(b, s.index)
	b = AppendString(b, s.name)
	b = AppendUvarint(b, uint64(len(s.items)))
	for _, it := range s.items {
		b = AppendBytes(b, it)
	}
	return append(b, s.rest...)
}

func decodeSample(b []byte) (sample, error) {
	d := NewDecoder(b, errTest)
	s := sample{kind: d.Uint8("kind"), code: d.Uint16("code"), index: d.Uint64("index")}
	s.name = d.String("name", sampleNameMax)
	n := d.Count("items", sampleItemsMax, 1)
	for range n {
		s.items = append(s.items, d.Bytes("item", sampleItemMax))
	}
	s.rest = d.Rest("rest", sampleRestMax)
	return s, d.Finish()
}

// FuzzDecoder checks that decoding never panics, that every error matches
// the sentinel and one kind, that what decodes respects the limits, and that
// it re-encodes to the same bytes (one encoding per value).
func FuzzDecoder(f *testing.F) {
	f.Add(sample{kind: 1, code: 2, index: 3, name: "n1", items: [][]byte{[]byte("a"), {}}, rest: []byte("r")}.encode())
	f.Add(sample{}.encode())
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeSample(b)
		if err != nil {
			if !errors.Is(err, errTest) {
				t.Fatalf("error %v does not match the sentinel", err)
			}
			kinds := 0
			for _, k := range []error{ErrTruncated, ErrTooLong, ErrBadVarint, ErrTrailing, ErrInvalid} {
				if errors.Is(err, k) {
					kinds++
				}
			}
			if kinds != 1 {
				t.Fatalf("error %v matches %d kinds", err, kinds)
			}
			return
		}
		if len(s.name) > sampleNameMax || len(s.items) > sampleItemsMax || len(s.rest) > sampleRestMax {
			t.Fatalf("accepted over the limits: %+v", s)
		}
		for _, it := range s.items {
			if len(it) > sampleItemMax {
				t.Fatalf("accepted an item of %d bytes", len(it))
			}
		}
		if enc := s.encode(); !bytes.Equal(enc, b) {
			t.Fatalf("re-encoding %x gave %x", b, enc)
		}
	})
}
