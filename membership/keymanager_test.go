package membership

import (
	"bytes"
	"encoding/base64"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/testkit"
)

// TestKeyRotationWithOneMemberDown rotates the gossip key across five
// members while one is down: every step succeeds on the four and reports
// the fifth; removing the key in use is refused everywhere.
func TestKeyRotationWithOneMemberDown(t *testing.T) {
	oldKey, newKey := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	nodes := startCluster(t, 5, func(_ int, cfg *Config) { cfg.Keys = [][]byte{oldKey} })
	testkit.WaitFor(t, 10*time.Second, func() bool { return allSee(nodes, 5) }, "formed")
	require.NoError(t, nodes[4].Close())
	testkit.WaitFor(t, 20*time.Second, func() bool {
		for _, n := range nodes[:4] {
			if statusOfMember(n, "node-4") != StatusFailed {
				return false
			}
		}
		return true
	}, "node-4 seen failed")
	km := nodes[0].KeyManager()
	ctx := testkit.Context(t, 30*time.Second)
	down := map[string]string{"node-4": "member failed"}

	for _, step := range []func() (KeyResult, error){
		func() (KeyResult, error) { return km.InstallKey(ctx, newKey) },
		func() (KeyResult, error) { return km.UseKey(ctx, newKey) },
		func() (KeyResult, error) { return km.RemoveKey(ctx, oldKey) },
	} {
		res, err := step()
		require.ErrorIs(t, err, ErrKeyOperation)
		require.Equal(t, 5, res.Members)
		require.Equal(t, 4, res.Responses)
		require.Equal(t, down, res.Errors)
	}
	for _, n := range nodes[:4] {
		require.Equal(t, [][]byte{newKey}, n.ListKeys())
	}

	res, err := km.ListKeys(ctx)
	require.ErrorIs(t, err, ErrKeyOperation)
	k := base64.StdEncoding.EncodeToString(newKey)
	require.Equal(t, map[string]int{k: 4}, res.Keys)
	require.Equal(t, map[string]int{k: 4}, res.PrimaryKeys)

	res, _ = km.RemoveKey(ctx, newKey)
	require.Equal(t, 4, res.Responses)
	require.Len(t, res.Errors, 5)
	require.Contains(t, res.Errors["node-1"], "primary key")
	require.Equal(t, [][]byte{newKey}, nodes[1].ListKeys())
}

func TestKeyManagerRefusals(t *testing.T) {
	m := startNode(t, testConfig(t, "plain"))
	_, err := m.KeyManager().ListKeys(testkit.Context(t, 5*time.Second))
	require.ErrorIs(t, err, ErrNoEncryption)
	_, err = m.Query(testkit.Context(t, 5*time.Second), queryListKeys, nil, QueryParams{})
	require.ErrorIs(t, err, ErrInvalidArgument)
	keys, err := decodeKeyList(encodeKeyList([][]byte{bytes.Repeat([]byte{1}, 16)}))
	require.NoError(t, err)
	require.Len(t, keys, 1)
	_, err = decodeKeyList([]byte{1, 3, 1, 2, 3})
	require.ErrorIs(t, err, errBadMessage)
}
