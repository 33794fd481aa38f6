package consensus

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/testkit"
)

func TestApplyOnLeaderAndFollower(t *testing.T) {
	c := newCluster(t, 3)
	l, f := c.waitReadyLeader(), c.follower()
	ctx := testkit.Context(t, 20*time.Second)

	res, err := c.nodes[l].Apply(ctx, []byte("set:a=1"))
	require.NoError(t, err)
	require.Empty(t, res)

	res, err = c.nodes[f].Apply(ctx, []byte("set:a=2"))
	require.NoError(t, err)
	require.Equal(t, "1", string(res), "a follower's write returns the FSM result")

	for _, i := range []int{l, f} {
		_, err = c.nodes[i].Apply(ctx, []byte("err:bad thing"))
		var sme *StateMachineError
		require.ErrorAs(t, err, &sme, "node %d", i)
		require.Equal(t, "bad thing", sme.Err.Error())
		require.NotErrorIs(t, err, ErrOutcomeUnknown)
	}

	for i := range c.nodes {
		require.NoError(t, c.nodes[i].Read(ctx, Linearizable, func(sm StateMachine) error {
			v, _ := sm.(*kvFSM).get("a")
			if v != "2" {
				return fmt.Errorf("node %d read %q", i, v)
			}
			return nil
		}))
	}
}

func TestApplyTooLarge(t *testing.T) {
	c := newCluster(t, 1, func(_ int, cfg *Config) { cfg.Tuning.MaxMessageSize = 1 << 10 })
	_, err := c.nodes[0].Apply(context.Background(), make([]byte, 2<<10))
	require.ErrorIs(t, err, ErrTooLarge)
}

func TestKillLeaderKeepsAckedWrites(t *testing.T) {
	c := newCluster(t, 3)
	ctx := testkit.Context(t, 30*time.Second)
	for i := range 20 {
		c.apply(ctx, c.follower(), fmt.Sprintf("set:k%d=%d", i, i))
	}
	old := c.waitReadyLeader()
	require.NoError(t, c.nodes[old].Close())
	c.nodes[old] = nil

	nl := c.waitReadyLeader()
	require.NotEqual(t, old, nl)
	for i := 20; i < 30; i++ {
		c.apply(ctx, c.follower(), fmt.Sprintf("set:k%d=%d", i, i))
	}
	for i, nd := range c.nodes {
		if nd == nil {
			continue
		}
		require.NoError(t, nd.Read(ctx, Linearizable, func(StateMachine) error {
			for k := range 30 {
				if v, _ := c.fsms[i].get(fmt.Sprintf("k%d", k)); v != fmt.Sprint(k) {
					return fmt.Errorf("node %d lost k%d (got %q)", i, k, v)
				}
			}
			return nil
		}))
	}
}

// A write whose result does not come back before the deadline is reported
// as possibly executed, on the leader and through a follower.
func TestOutcomeUnknownWhenResultLost(t *testing.T) {
	gate := make(chan struct{})
	c := newCluster(t, 3, func(_ int, cfg *Config) { cfg.StateMachine.(*kvFSM).gate = gate })
	defer close(gate) // before the cluster closes: Close drains in-flight writes
	l, f := c.waitReadyLeader(), c.follower()
	for _, i := range []int{l, f} {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, err := c.nodes[i].Apply(ctx, []byte("block:"))
		cancel()
		require.ErrorIs(t, err, ErrOutcomeUnknown, "node %d", i)
		require.NotErrorIs(t, err, ErrNoLeader)
	}
}

// With no leader reachable a write fails with ErrNoLeader once ctx ends;
// it never ran.
func TestNoLeader(t *testing.T) {
	c := newCluster(t, 3)
	f := c.follower()
	for i := range c.nodes {
		if i != f {
			require.NoError(t, c.nodes[i].Close())
		}
	}
	// Votes the others granted before they closed may still reach the
	// follower (a closing leader hands leadership over), and it may then
	// lead alone until its lease ends. A candidate for a whole election
	// timeout has no such vote left to count, and cannot win.
	var since time.Time
	stand := c.cfgs[f].raftConfig().ElectionTimeout
	testkit.WaitFor(t, 20*time.Second, func() bool {
		if c.nodes[f].Leader() != (LeaderInfo{}) || c.nodes[f].Status().State != StateCandidate {
			since = time.Time{}
			return false
		}
		if since.IsZero() {
			since = time.Now()
		}
		return time.Since(since) >= stand
	}, "leader lost")
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := c.nodes[f].Apply(ctx, []byte("set:a=1"))
	require.ErrorIs(t, err, ErrNoLeader)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NotErrorIs(t, err, ErrOutcomeUnknown)
}
