package consensus

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/testkit"
)

func TestLinearizableReadOnFollowerSeesLatestAckedWrite(t *testing.T) {
	c := newCluster(t, 3)
	ctx := testkit.Context(t, 30*time.Second)
	l := c.waitReadyLeader()
	for i := range 30 {
		c.apply(ctx, l, fmt.Sprintf("set:x=%d", i))
		for f := range c.nodes {
			if f == l {
				continue
			}
			require.NoError(t, c.nodes[f].Read(ctx, Linearizable, func(sm StateMachine) error {
				if v, _ := sm.(*kvFSM).get("x"); v != fmt.Sprint(i) {
					return fmt.Errorf("follower %d read x=%q after x=%d was acknowledged", f, v, i)
				}
				return nil
			}))
			res, err := c.nodes[f].Query(ctx, Linearizable, []byte("get:x"))
			require.NoError(t, err)
			require.Equal(t, fmt.Sprint(i), string(res))
		}
	}
}

func TestReadLevels(t *testing.T) {
	c := newCluster(t, 3, func(_ int, cfg *Config) { cfg.Tuning.MaxStaleness = 10 * time.Second })
	ctx := testkit.Context(t, 30*time.Second)
	l, f := c.waitReadyLeader(), c.follower()
	c.apply(ctx, f, "set:x=1")

	// Leader level: Read on a follower names the leader; Query is forwarded.
	err := c.nodes[f].Read(ctx, Leader, func(StateMachine) error { return nil })
	var nle *NotLeaderError
	require.ErrorAs(t, err, &nle)
	require.ErrorIs(t, err, ErrNotLeader)
	require.Equal(t, c.nodes[l].Name(), nle.LeaderName)
	require.Equal(t, c.nodes[l].Addr(), nle.LeaderAddr)
	res, err := c.nodes[f].Query(ctx, Leader, []byte("get:x"))
	require.NoError(t, err)
	require.Equal(t, "1", string(res))
	require.NoError(t, c.nodes[l].Read(ctx, Leader, func(StateMachine) error { return nil }))

	// Stale: local, within MaxStaleness of the last leader contact.
	testkit.WaitFor(t, 10*time.Second, func() bool { v, _ := c.fsms[f].get("x"); return v == "1" }, "follower applies x")
	res, err = c.nodes[f].Query(ctx, Stale, []byte("get:x"))
	require.NoError(t, err)
	require.Equal(t, "1", string(res))

	// A query error is the state machine's.
	_, err = c.nodes[f].Query(ctx, Linearizable, []byte("get:missing"))
	var sme *StateMachineError
	require.ErrorAs(t, err, &sme)
	require.Contains(t, sme.Error(), "no key")
	_, err = c.nodes[f].Query(ctx, Leader, []byte("get:missing"))
	require.ErrorAs(t, err, &sme, "a forwarded query's error comes back as the state machine's")

	require.Error(t, c.nodes[f].Read(ctx, ReadLevel(9), func(StateMachine) error { return nil }))
}

func TestStaleReadBoundedByMaxStaleness(t *testing.T) {
	c := newCluster(t, 3, func(_ int, cfg *Config) { cfg.Tuning.MaxStaleness = 300 * time.Millisecond })
	f := c.follower()
	ok := func(StateMachine) error { return nil }
	testkit.WaitFor(t, 10*time.Second, func() bool { return c.nodes[f].Read(context.Background(), Stale, ok) == nil }, "fresh stale read")
	// Stop the others: the follower stops hearing from a leader.
	for i := range c.nodes {
		if i != f {
			require.NoError(t, c.nodes[i].Close())
		}
	}
	testkit.WaitFor(t, 10*time.Second, func() bool {
		return errors.Is(c.nodes[f].Read(context.Background(), Stale, ok), ErrStale)
	}, "stale read refused")
}

type noQuerier struct{ *kvFSM }

func (noQuerier) Query() {} // shadows kvFSM.Query with another signature

func TestQueryWithoutQuerier(t *testing.T) {
	c := newCluster(t, 1, func(_ int, cfg *Config) { cfg.StateMachine = noQuerier{newKV()} })
	_, err := c.nodes[0].Query(context.Background(), Stale, []byte("get:x"))
	require.ErrorIs(t, err, ErrNoQuerier)
}
