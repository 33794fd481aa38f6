package membership

import (
	"fmt"
	"slices"

	"github.com/hashicorp/memberlist"
)

// Gossip encryption keys are rotated one node at a time, in three steps run
// on every node: InstallKey(new) everywhere, then UseKey(new) everywhere,
// then RemoveKey(old) everywhere. Between the steps every node can decrypt
// what every other node sends. KeyManager runs each step on every member
// through queries (keymanager.go).

// InstallKey adds key (16, 24 or 32 bytes) to the keyring, for decryption.
// Installing a key that is present does nothing.
func (m *Membership) InstallKey(key []byte) error {
	if m.keyring == nil {
		return ErrNoEncryption
	}
	if err := memberlist.ValidateKey(key); err != nil {
		return fmt.Errorf("membership: install key: %w", err)
	}
	if err := m.keyring.AddKey(slices.Clone(key)); err != nil {
		return fmt.Errorf("membership: install key: %w", err)
	}
	return nil
}

// UseKey makes an installed key the primary key, used to encrypt.
func (m *Membership) UseKey(key []byte) error {
	if m.keyring == nil {
		return ErrNoEncryption
	}
	if err := m.keyring.UseKey(key); err != nil {
		return fmt.Errorf("membership: use key: %w", err)
	}
	return nil
}

// RemoveKey removes a key other than the primary. Removing a key that is not
// installed does nothing.
func (m *Membership) RemoveKey(key []byte) error {
	if m.keyring == nil {
		return ErrNoEncryption
	}
	if err := m.keyring.RemoveKey(key); err != nil {
		return fmt.Errorf("membership: remove key: %w", err)
	}
	return nil
}

// ListKeys returns copies of the installed keys, the primary key first; nil
// when encryption is off.
func (m *Membership) ListKeys() [][]byte {
	if m.keyring == nil {
		return nil
	}
	keys := m.keyring.GetKeys()
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = slices.Clone(k)
	}
	return out
}
