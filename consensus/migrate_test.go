package consensus

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/testkit"
)

// A follower of a running group is stopped, migrated to another store and
// back, and restarted each time: it keeps its seat, its term and every
// write, and the group keeps serving.
func TestMigrateLogStoreOfAFollower(t *testing.T) {
	var counts countingStore
	custom := counts.customBolt()
	c := newCluster(t, 3)
	ctx := testkit.Context(t, 60*time.Second)
	for i := range 20 {
		c.apply(ctx, i%3, fmt.Sprintf("set:k%d=%d", i, i))
	}
	f := c.follower()
	dir := c.cfgs[f].DataDir

	for _, step := range []struct{ from, to LogStoreConfig }{{LogStoreConfig{}, custom}, {custom, LogStoreConfig{}}} {
		term := c.nodes[f].Status().Term
		require.NoError(t, c.nodes[f].Close())
		c.apply(ctx, c.leader(), "set:while-down=1")
		require.NoError(t, MigrateLogStore(dir, step.from, step.to))

		c.fsms[f] = newKV()
		c.cfgs[f].StateMachine, c.cfgs[f].LogStore = c.fsms[f], step.to
		c.nodes[f] = c.start(c.cfgs[f])
		require.GreaterOrEqual(t, c.nodes[f].Status().Term, term, "the term survives the move")
		require.NoError(t, c.nodes[f].WaitReady(ctx))
		for i := range 20 {
			v, _ := c.fsms[f].get(fmt.Sprintf("k%d", i))
			require.Equal(t, fmt.Sprint(i), v)
		}
		v, _ := c.fsms[f].get("while-down")
		require.Equal(t, "1", v)
		c.apply(ctx, f, "set:after="+step.to.name())
	}
	servers, err := c.nodes[f].Configuration(ctx)
	require.NoError(t, err)
	require.Len(t, servers, 3, "the migrated server kept its seat")
}

// A migration is refused, changing nothing, when the record names another
// store, when from and to are the same, when the new store holds data, and
// while a node runs on the directory.
func TestMigrateLogStoreRefusals(t *testing.T) {
	var counts countingStore
	custom := counts.customBolt()
	c := newCluster(t, 1)
	dir := c.cfgs[0].DataDir

	err := MigrateLogStore(dir, LogStoreConfig{}, custom)
	require.ErrorContains(t, err, "is a node running on it?", "bolt's lock is held by the running node")

	require.NoError(t, c.nodes[0].Close())
	require.ErrorIs(t, MigrateLogStore(dir, custom, LogStoreConfig{}), ErrLogStoreMismatch)
	require.ErrorContains(t, MigrateLogStore(dir, custom, custom), "both")
	require.ErrorIs(t, MigrateLogStore(dir, LogStoreConfig{Name: "x"}, custom), ErrInvalidConfig)

	// A new store with data of its own is not overwritten.
	st, err := custom.Open(dir)
	require.NoError(t, err)
	require.NoError(t, st.SetUint64([]byte("CurrentTerm"), 9))
	require.NoError(t, st.Close())
	require.ErrorContains(t, MigrateLogStore(dir, LogStoreConfig{}, custom), "already holds data")
	have, err := recordedLogStore(dir)
	require.NoError(t, err)
	require.Equal(t, "bolt", have, "the record still names bolt")
	require.FileExists(t, filepath.Join(dir, boltFile))
}
