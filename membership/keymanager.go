package membership

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/conclave-go/conclave/internal/wire"
)

// Cluster-wide key rotation runs the local keyring operations on every
// member through queries, as Serf's key manager does. The keys travel in
// query payloads, which gossip encrypts with the keys in use.

// internalQueryPrefix starts the names of Conclave's own queries; Query and
// HandleQuery refuse such names from the application.
const internalQueryPrefix = "_conclave/"

const (
	queryInstallKey = internalQueryPrefix + "install-key"
	queryUseKey     = internalQueryPrefix + "use-key"
	queryRemoveKey  = internalQueryPrefix + "remove-key"
	queryListKeys   = internalQueryPrefix + "list-keys"
)

// ErrKeyOperation is matched by the error of a cluster-wide key operation
// that did not succeed on every member; the [KeyResult] says where.
var ErrKeyOperation = errors.New("membership: key operation failed on some members")

// KeyManager runs keyring operations on every member. Get it from
// [Membership.KeyManager]. A rotation is InstallKey(new), UseKey(new),
// RemoveKey(old); each step should succeed everywhere before the next.
type KeyManager struct{ m *Membership }

// KeyManager returns the cluster-wide key manager of the node.
func (m *Membership) KeyManager() *KeyManager { return &KeyManager{m: m} }

// KeyResult is the outcome of a cluster-wide key operation.
type KeyResult struct {
	// Members is the number of members asked (alive when the operation
	// started) plus those known failed, which count as errors.
	Members int
	// Responses is the number of members that answered.
	Responses int
	// Errors maps each member that failed, refused or did not answer to
	// why.
	Errors map[string]string
	// Keys maps each key (base64) to the number of members holding it;
	// PrimaryKeys, to the number using it to encrypt. Set by ListKeys.
	Keys, PrimaryKeys map[string]int
}

// InstallKey adds key to the keyring of every member.
func (k *KeyManager) InstallKey(ctx context.Context, key []byte) (KeyResult, error) {
	return k.run(ctx, queryInstallKey, key)
}

// UseKey makes key, already installed, the primary key on every member.
func (k *KeyManager) UseKey(ctx context.Context, key []byte) (KeyResult, error) {
	return k.run(ctx, queryUseKey, key)
}

// RemoveKey removes key from every member; each member refuses to remove
// its primary key.
func (k *KeyManager) RemoveKey(ctx context.Context, key []byte) (KeyResult, error) {
	return k.run(ctx, queryRemoveKey, key)
}

// ListKeys collects the keys of every member.
func (k *KeyManager) ListKeys(ctx context.Context) (KeyResult, error) {
	return k.run(ctx, queryListKeys, nil)
}

func (k *KeyManager) run(ctx context.Context, name string, key []byte) (KeyResult, error) {
	m := k.m
	if m.keyring == nil {
		return KeyResult{}, ErrNoEncryption
	}
	params := QueryParams{RelayFactor: 2}
	if d, ok := ctx.Deadline(); ok {
		params.Timeout = min(max(time.Until(d), time.Millisecond), maxQueryTimeout)
	}
	r, err := m.query(ctx, name, key, params)
	if err != nil {
		return KeyResult{}, err
	}
	res := KeyResult{Errors: map[string]string{}}
	if name == queryListKeys {
		res.Keys, res.PrimaryKeys = map[string]int{}, map[string]int{}
	}
	for resp := range r.Responses() {
		res.Responses++
		switch {
		case resp.Err != nil:
			res.Errors[resp.From] = resp.Err.Error()
		case name == queryListKeys:
			k.countKeys(&res, resp)
		}
	}
	for _, n := range r.Missing() {
		res.Errors[n] = "no response"
	}
	res.Members = len(r.Expected())
	var failed []Member
	m.hub.read(func(t *table) { failed = t.withStatus(StatusFailed) })
	for _, f := range failed {
		if !slices.Contains(r.Expected(), f.Name) {
			res.Members++
			res.Errors[f.Name] = "member failed"
		}
	}
	if len(res.Errors) > 0 {
		return res, fmt.Errorf("%w: %d of %d", ErrKeyOperation, len(res.Errors), res.Members)
	}
	return res, nil
}

func (k *KeyManager) countKeys(res *KeyResult, resp QueryResponse) {
	keys, err := decodeKeyList(resp.Payload)
	if err != nil {
		res.Errors[resp.From] = err.Error()
		return
	}
	for i, key := range keys {
		s := base64.StdEncoding.EncodeToString(key)
		res.Keys[s]++
		if i == 0 {
			res.PrimaryKeys[s]++
		}
	}
}

// keyHandlers returns the handlers of the key queries.
func (m *Membership) keyHandlers() map[string]QueryHandler {
	return map[string]QueryHandler{
		queryInstallKey: func(_ context.Context, key []byte) ([]byte, error) { return nil, m.InstallKey(key) },
		queryUseKey:     func(_ context.Context, key []byte) ([]byte, error) { return nil, m.UseKey(key) },
		queryRemoveKey: func(_ context.Context, key []byte) ([]byte, error) {
			if keys := m.ListKeys(); len(keys) > 0 && bytes.Equal(keys[0], key) {
				return nil, errors.New("refusing to remove the primary key")
			}
			return nil, m.RemoveKey(key)
		},
		queryListKeys: func(context.Context, []byte) ([]byte, error) {
			keys := m.ListKeys()
			if keys == nil {
				return nil, ErrNoEncryption
			}
			return encodeKeyList(keys), nil
		},
	}
}

// maxListedKeys bounds the keys a list response carries (32-byte keys fit
// MaxMessageSize).
const maxListedKeys = 24

func encodeKeyList(keys [][]byte) []byte {
	keys = keys[:min(len(keys), maxListedKeys)]
	b := wire.AppendUvarint(nil, uint64(len(keys)))
	for _, k := range keys {
		b = wire.AppendBytes(b, k)
	}
	return b
}

func decodeKeyList(b []byte) ([][]byte, error) {
	d := wire.NewDecoder(b, errBadMessage)
	n := d.Count("keys", maxListedKeys, 17)
	keys := make([][]byte, 0, n)
	for range n {
		k := d.Bytes("key", 32)
		if d.Err() == nil && len(k) != 16 && len(k) != 24 && len(k) != 32 {
			d.Failf("key of %d bytes", len(k))
		}
		keys = append(keys, k)
	}
	return keys, d.Finish()
}

func isInternalQuery(name string) bool { return strings.HasPrefix(name, internalQueryPrefix) }
