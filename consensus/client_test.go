package consensus

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/testkit"
)

func TestClientThroughFollower(t *testing.T) {
	c := newCluster(t, 3)
	ctx := testkit.Context(t, 30*time.Second)
	cl, err := NewClient(ClientConfig{})
	require.NoError(t, err)
	defer cl.Close()
	f := c.follower()
	addr := c.nodes[f].Addr()

	res, err := cl.Apply(ctx, addr, []byte("set:x=1"))
	require.NoError(t, err)
	require.Empty(t, res)
	res, err = cl.Apply(ctx, addr, []byte("set:x=2"))
	require.NoError(t, err)
	require.Equal(t, "1", string(res))
	_, err = cl.Apply(ctx, addr, []byte("err:nope"))
	var sme *StateMachineError
	require.ErrorAs(t, err, &sme)
	require.Equal(t, "nope", sme.Err.Error())

	for _, level := range []ReadLevel{Linearizable, Leader} {
		res, err = cl.Query(ctx, addr, level, []byte("get:x"))
		require.NoError(t, err, level)
		require.Equal(t, "2", string(res), level)
	}
	testkit.WaitFor(t, 10*time.Second, func() bool {
		res, err := cl.Query(ctx, addr, Stale, []byte("get:x"))
		return err == nil && string(res) == "2"
	}, "stale query on the follower")

	// A request already forwarded once is never forwarded again.
	_, err = cl.remote.apply(ctx, addr, true, []byte("set:x=loop"))
	var nle *NotLeaderError
	require.ErrorAs(t, err, &nle)

	st, err := cl.Status(ctx, addr)
	require.NoError(t, err)
	require.Equal(t, StateFollower, st.State)
	require.True(t, st.HasState)
	require.NotEmpty(t, st.Leader.Name)

	// An unreachable server (never contacted, so no pooled connection): the
	// request certainly did not run.
	l := c.waitReadyLeader()
	other := 3 - f - l
	deadAddr := c.nodes[other].Addr()
	require.NoError(t, c.nodes[other].Close())
	_, err = cl.Apply(ctx, deadAddr, []byte("set:x=3"))
	require.ErrorIs(t, err, ErrUnavailable)

	require.NoError(t, cl.Close())
	_, err = cl.Apply(ctx, addr, []byte("set:x=3"))
	require.ErrorIs(t, err, ErrClosed)
}
