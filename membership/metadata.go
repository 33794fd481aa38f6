package membership

import (
	"encoding/binary"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/memberlist"
)

// ProtocolVersion is the membership protocol version this package speaks and
// advertises in every node's metadata.
const ProtocolVersion uint8 = 1

// ReservedTagPrefix starts the tag keys that Conclave's own packages use
// (for example the cluster package's bootstrap settings). [Config.Tags] and
// [Membership.SetTags] reject such keys; [Config.SystemTags] and
// [Membership.SetSystemTags] accept only such keys.
const ReservedTagPrefix = "conclave:"

// MetaMaxSize is the largest encoded metadata memberlist carries for a node.
const MetaMaxSize = memberlist.MetaMaxSize

// metaVersion is the layout version written by this package. A decoder
// accepts any version >= 1: later versions only append fields after the
// version-1 fields, so an old decoder reads the prefix it knows.
const metaVersion = 1

// nodeMeta is what a node advertises about itself in gossip.
//
// Encoding (version 1):
//
//	byte     version (1)
//	byte     role
//	byte     protocol version
//	byte     flags (bit 0: leaving; other bits zero)
//	uvarint  len(rpcAddr), bytes
//	uvarint  number of tags
//	repeated uvarint len(key), bytes, uvarint len(value), bytes
//
// Tags are written in strictly increasing key order, so every valid
// metadata has one encoding. Version 1 allows no trailing bytes.
type nodeMeta struct {
	Role     Role
	Protocol uint8
	// Leaving is set by a node that is about to leave gracefully, so that
	// the others record its departure as a leave, not a failure.
	Leaving bool
	RPCAddr string
	Tags    map[string]string
}

// flagLeaving is the flags bit for nodeMeta.Leaving.
const flagLeaving = 1

// encode returns the wire form, or an error wrapping ErrMetaTooLarge.
func (nm nodeMeta) encode() ([]byte, error) {
	keys := slices.Sorted(maps.Keys(nm.Tags))
	buf := make([]byte, 0, 64)
	var flags byte
	if nm.Leaving {
		flags |= flagLeaving
	}
	buf = append(buf, metaVersion, byte(nm.Role), nm.Protocol, flags)
	buf = appendString(buf, nm.RPCAddr)
	buf = binary.AppendUvarint(buf, uint64(len(keys)))
	for _, k := range keys {
		buf = appendString(buf, k)
		buf = appendString(buf, nm.Tags[k])
	}
	if len(buf) > MetaMaxSize {
		return nil, fmt.Errorf("%w: %d bytes for role, RPC address and %d tags, limit %d",
			ErrMetaTooLarge, len(buf), len(keys), MetaMaxSize)
	}
	return buf, nil
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// decodeMeta parses and validates metadata received from the network. It
// never panics and allocates at most in proportion to len(b).
func decodeMeta(b []byte) (nodeMeta, error) {
	if len(b) > MetaMaxSize {
		return nodeMeta{}, fmt.Errorf("%w: %d bytes, limit %d", ErrBadMeta, len(b), MetaMaxSize)
	}
	d := metaDecoder{buf: b}
	version := d.byte()
	role := Role(d.byte())
	nm := nodeMeta{Role: role, Protocol: d.byte()}
	flags := d.byte()
	nm.Leaving = flags&flagLeaving != 0
	switch {
	case d.err != nil:
		return nodeMeta{}, d.err
	case version == 0:
		return nodeMeta{}, fmt.Errorf("%w: version 0", ErrBadMeta)
	case !role.valid():
		return nodeMeta{}, fmt.Errorf("%w: unknown role %d", ErrBadMeta, role)
	case nm.Protocol == 0:
		return nodeMeta{}, fmt.Errorf("%w: protocol version 0", ErrBadMeta)
	case version == metaVersion && flags&^flagLeaving != 0:
		return nodeMeta{}, fmt.Errorf("%w: unknown flags %#x", ErrBadMeta, flags)
	}
	nm.RPCAddr = d.string()
	nm.Tags = d.tags()
	if d.err != nil {
		return nodeMeta{}, d.err
	}
	if nm.RPCAddr != "" {
		if _, _, err := net.SplitHostPort(nm.RPCAddr); err != nil {
			return nodeMeta{}, fmt.Errorf("%w: RPC address %q: %v", ErrBadMeta, nm.RPCAddr, err)
		}
	}
	if version == metaVersion && len(d.buf) != 0 {
		return nodeMeta{}, fmt.Errorf("%w: %d trailing bytes", ErrBadMeta, len(d.buf))
	}
	return nm, nil
}

// metaDecoder reads from buf, recording the first error; after an error
// every read returns a zero value.
type metaDecoder struct {
	buf []byte
	err error
}

func (d *metaDecoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrBadMeta}, args...)...)
	}
}

func (d *metaDecoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.buf) == 0 {
		d.fail("truncated")
		return 0
	}
	v := d.buf[0]
	d.buf = d.buf[1:]
	return v
}

func (d *metaDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail("bad length")
		return 0
	}
	var tmp [binary.MaxVarintLen64]byte
	if n != binary.PutUvarint(tmp[:], v) {
		d.fail("length not minimally encoded")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *metaDecoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.buf)) {
		d.fail("length %d exceeds the %d remaining bytes", n, len(d.buf))
		return ""
	}
	s := string(d.buf[:n])
	d.buf = d.buf[n:]
	if !utf8.ValidString(s) {
		d.fail("invalid UTF-8")
		return ""
	}
	return s
}

func (d *metaDecoder) tags() map[string]string {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	// Each tag takes at least three bytes: two lengths and a non-empty key.
	if n > uint64(len(d.buf))/3 {
		d.fail("%d tags cannot fit in %d bytes", n, len(d.buf))
		return nil
	}
	tags := make(map[string]string, n)
	prev := ""
	for i := uint64(0); i < n && d.err == nil; i++ {
		k, v := d.string(), d.string()
		switch {
		case d.err != nil:
		case k == "":
			d.fail("empty tag key")
		case i > 0 && strings.Compare(k, prev) <= 0:
			d.fail("tag keys not in strictly increasing order at %q", k)
		default:
			tags[k] = v
			prev = k
		}
	}
	return tags
}
