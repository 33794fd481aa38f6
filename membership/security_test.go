package membership

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/testkit"
)

func key(b byte, size int) []byte { return bytes.Repeat([]byte{b}, size) }

// TestEncryptionAndLabelRefusal: a node without the key, with a wrong key,
// or with another label cannot join an encrypted, labelled cluster; each
// gets an error saying why, and the cluster is unchanged.
func TestEncryptionAndLabelRefusal(t *testing.T) {
	secure := func(_ int, cfg *Config) {
		cfg.Keys = [][]byte{key(1, 32)}
		cfg.Label = "prod"
	}
	nodes := startCluster(t, 2, secure)
	testkit.WaitFor(t, 10*time.Second, func() bool { return allSee(nodes, 2) }, "the encrypted cluster forms")
	seed := nodes[0].Local().Address()

	tests := []struct {
		name   string
		keys   [][]byte
		label  string
		reason string
	}{
		{"no key", nil, "prod", "encryption is not configured"},
		{"wrong key", [][]byte{key(2, 32)}, "prod", "no installed keys could decrypt"},
		{"wrong key size too", [][]byte{key(3, 16)}, "prod", "no installed keys could decrypt"},
		{"other label", [][]byte{key(1, 32)}, "staging", "closed the connection without answering"},
		{"no label", [][]byte{key(1, 32)}, "", "closed the connection without answering"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, "intruder")
			cfg.Keys, cfg.Label = tt.keys, tt.label
			m := startNode(t, cfg)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			n, err := m.Join(ctx, []string{seed})
			require.Zero(t, n)
			require.ErrorIs(t, err, ErrJoinFailed)
			require.Contains(t, err.Error(), tt.reason)
			t.Log(err)
			require.Equal(t, 1, countStatus(m, StatusAlive))
			require.NoError(t, m.Close())
		})
	}
	for _, n := range nodes {
		require.Len(t, n.Members(), 2, "the cluster never saw an intruder")
	}
}

// TestPlainLabelMismatch: labels separate clusters without encryption too.
func TestPlainLabelMismatch(t *testing.T) {
	a := startNode(t, func() Config { c := testConfig(t, "a"); c.Label = "blue"; return c }())
	cfg := testConfig(t, "b")
	cfg.Label = "green"
	b := startNode(t, cfg)
	_, err := b.Join(t.Context(), []string{a.Local().Address()})
	require.ErrorIs(t, err, ErrJoinFailed)
	require.Len(t, a.Members(), 1)
}

// TestKeyRotation rotates the gossip key of a running cluster without a
// split, then admits a node that knows only the new key.
func TestKeyRotation(t *testing.T) {
	oldKey, newKey := key(1, 16), key(2, 24)
	nodes := startCluster(t, 3, func(_ int, cfg *Config) { cfg.Keys = [][]byte{oldKey} })
	testkit.WaitFor(t, 10*time.Second, func() bool { return allSee(nodes, 3) }, "formed")

	for _, n := range nodes {
		require.NoError(t, n.InstallKey(newKey))
		require.Equal(t, [][]byte{oldKey, newKey}, n.ListKeys())
	}
	for _, n := range nodes {
		require.NoError(t, n.UseKey(newKey))
	}
	for _, n := range nodes {
		require.Error(t, n.RemoveKey(newKey), "the primary key cannot be removed")
		require.NoError(t, n.RemoveKey(oldKey))
		require.Equal(t, [][]byte{newKey}, n.ListKeys())
	}
	require.NoError(t, nodes[1].SetTags(map[string]string{"rotated": "yes"}))

	cfg := testConfig(t, "newcomer")
	cfg.Keys = [][]byte{newKey}
	cfg.Seeds = []string{nodes[0].Local().Address()}
	cfg.WaitForJoin = true
	all := append(nodes, startNode(t, cfg))
	testkit.WaitFor(t, 15*time.Second, func() bool { return allSee(all, 4) }, "the cluster works on the new key")

	cfg = testConfig(t, "stale")
	cfg.Keys = [][]byte{oldKey}
	stale := startNode(t, cfg)
	_, err := stale.Join(t.Context(), []string{nodes[0].Local().Address()})
	require.ErrorIs(t, err, ErrJoinFailed, "the old key no longer works")
}

func TestKeyringErrors(t *testing.T) {
	plain, err := New(testConfig(t, "plain"))
	require.NoError(t, err)
	defer plain.Close()
	require.ErrorIs(t, plain.InstallKey(key(1, 16)), ErrNoEncryption)
	require.ErrorIs(t, plain.UseKey(key(1, 16)), ErrNoEncryption)
	require.ErrorIs(t, plain.RemoveKey(key(1, 16)), ErrNoEncryption)
	require.Nil(t, plain.ListKeys())

	cfg := testConfig(t, "enc")
	cfg.Keys = [][]byte{key(1, 16)}
	enc, err := New(cfg)
	require.NoError(t, err)
	defer enc.Close()
	require.Error(t, enc.InstallKey(key(2, 10)))
	require.Error(t, enc.UseKey(key(9, 16)), "not installed")
	require.NoError(t, enc.RemoveKey(key(9, 16)), "removing an absent key does nothing")
	keys := enc.ListKeys()
	keys[0][0] = 0xff
	require.Equal(t, key(1, 16), enc.ListKeys()[0], "ListKeys returns copies")
}
