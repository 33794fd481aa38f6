package membership

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/memberlist"

	"github.com/conclave-go/conclave/internal/wire"
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
// Encoding (version 1), with internal/wire:
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
	buf = wire.AppendString(buf, nm.RPCAddr)
	buf = wire.AppendUvarint(buf, uint64(len(keys)))
	for _, k := range keys {
		buf = wire.AppendString(buf, k)
		buf = wire.AppendString(buf, nm.Tags[k])
	}
	if len(buf) > MetaMaxSize {
		return nil, fmt.Errorf("%w: %d bytes for role, RPC address and %d tags, limit %d",
			ErrMetaTooLarge, len(buf), len(keys), MetaMaxSize)
	}
	return buf, nil
}

// decodeMeta parses and validates metadata received from the network. It
// never panics and allocates at most in proportion to len(b).
func decodeMeta(b []byte) (nodeMeta, error) {
	if len(b) > MetaMaxSize {
		return nodeMeta{}, fmt.Errorf("%w: %d bytes, limit %d", ErrBadMeta, len(b), MetaMaxSize)
	}
	d := wire.NewDecoder(b, ErrBadMeta)
	version := d.Uint8("version")
	nm := nodeMeta{Role: Role(d.Uint8("role")), Protocol: d.Uint8("protocol version")}
	flags := d.Uint8("flags")
	nm.Leaving = flags&flagLeaving != 0
	switch {
	case version == 0:
		d.Failf("version 0")
	case !nm.Role.valid():
		d.Failf("unknown role %d", nm.Role)
	case nm.Protocol == 0:
		d.Failf("protocol version 0")
	case version == metaVersion && flags&^flagLeaving != 0:
		d.Failf("unknown flags %#x", flags)
	}
	nm.RPCAddr = readString(&d, "RPC address")
	if nm.RPCAddr != "" && d.Err() == nil {
		if _, _, err := net.SplitHostPort(nm.RPCAddr); err != nil {
			d.Failf("RPC address %q: %v", nm.RPCAddr, err)
		}
	}
	nm.Tags = readTags(&d)
	err := d.Err()
	if version == metaVersion {
		err = d.Finish() // later versions append fields
	}
	if err != nil {
		return nodeMeta{}, err
	}
	return nm, nil
}

// readString reads a string, which must be valid UTF-8.
func readString(d *wire.Decoder, what string) string {
	s := d.String(what, MetaMaxSize)
	if !utf8.ValidString(s) {
		d.Failf("%s: invalid UTF-8", what)
	}
	return s
}

// readTags reads the tags: a count, then each key and value, keys non-empty
// and strictly increasing.
func readTags(d *wire.Decoder) map[string]string {
	// Each tag takes at least three bytes: two lengths and a non-empty key.
	n := d.Count("tags", MetaMaxSize, 3)
	tags := make(map[string]string, n)
	prev := ""
	for i := 0; i < n && d.Err() == nil; i++ {
		k, v := readString(d, "tag key"), readString(d, "tag value")
		switch {
		case d.Err() != nil:
		case k == "":
			d.Failf("empty tag key")
		case i > 0 && strings.Compare(k, prev) <= 0:
			d.Failf("tag keys not in strictly increasing order at %q", k)
		default:
			tags[k] = v
			prev = k
		}
	}
	return tags
}
