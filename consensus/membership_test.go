package consensus

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/testkit"
)

// serverOf returns id's entry in node i's configuration.
func (c *testCluster) serverOf(i int, id string) (Server, bool) {
	servers, err := c.nodes[i].Configuration(context.Background())
	require.NoError(c.t, err)
	for _, s := range servers {
		if s.Name == id {
			return s, true
		}
	}
	return Server{}, false
}

func TestMembershipChangesFromFollower(t *testing.T) {
	c := newCluster(t, 3)
	ctx := testkit.Context(t, 60*time.Second)
	fsm := newKV()
	cfg := testConfig(t, "n3", fsm)
	joiner := c.start(cfg)
	c.nodes, c.fsms, c.cfgs = append(c.nodes, joiner), append(c.fsms, fsm), append(c.cfgs, cfg)
	has, err := joiner.HasState()
	require.NoError(t, err)
	require.False(t, has, "a fresh node has no state")
	f := c.follower()

	// Added at a wrong address first, then the address is updated.
	require.NoError(t, c.nodes[f].AddNonVoter(ctx, "n3", "127.0.0.1:1"))
	// The change is committed; the follower learns of it on the next append.
	testkit.WaitFor(t, 10*time.Second, func() bool {
		s, _ := c.serverOf(f, "n3")
		return s == Server{Name: "n3", Addr: "127.0.0.1:1", Suffrage: NonVoter}
	}, "n3 as a non-voter at the first address")
	require.NoError(t, c.nodes[f].AddNonVoter(ctx, "n3", joiner.Addr()))
	testkit.WaitFor(t, 10*time.Second, func() bool { s, _ := c.serverOf(f, "n3"); return s.Addr == joiner.Addr() }, "address update")

	c.apply(ctx, f, "set:x=1")
	testkit.WaitFor(t, 20*time.Second, func() bool { v, _ := fsm.get("x"); return v == "1" }, "the non-voter replicates")

	require.NoError(t, c.nodes[f].Promote(ctx, "n3"))
	testkit.WaitFor(t, 10*time.Second, func() bool { s, _ := c.serverOf(f, "n3"); return s.Suffrage == Voter }, "promotion")
	require.NoError(t, c.nodes[f].Demote(ctx, "n3"))
	testkit.WaitFor(t, 10*time.Second, func() bool { s, _ := c.serverOf(f, "n3"); return s.Suffrage == NonVoter }, "demotion")
	require.NoError(t, c.nodes[f].RemoveServer(ctx, "n3"))
	testkit.WaitFor(t, 10*time.Second, func() bool { _, ok := c.serverOf(f, "n3"); return !ok }, "removal")
	require.NoError(t, c.nodes[f].RemoveServer(ctx, "n3"), "removing an absent server succeeds")
	require.ErrorIs(t, c.nodes[f].Promote(ctx, "nobody"), ErrUnknownServer)

	// Leadership transfer requested on a follower.
	old := c.waitReadyLeader()
	require.NoError(t, c.nodes[f].LeadershipTransfer(ctx))
	testkit.WaitFor(t, 20*time.Second, func() bool { l := c.leader(); return l >= 0 && l != old }, "leadership moves")

	// To a chosen server.
	target := c.follower()
	require.NoError(t, c.nodes[c.follower()].LeadershipTransferTo(ctx, c.nodes[target].Name()))
	testkit.WaitFor(t, 20*time.Second, func() bool { return c.leader() == target }, "leadership moves to %s", c.nodes[target].Name())
}

func TestLeaveFollowerThenLeader(t *testing.T) {
	c := newCluster(t, 3)
	ctx := testkit.Context(t, 60*time.Second)
	f := c.follower()
	fid := c.nodes[f].Name()
	require.NoError(t, c.nodes[f].Leave(ctx))
	_, err := c.nodes[f].Apply(ctx, nil)
	require.ErrorIs(t, err, ErrClosed)
	c.nodes[f] = nil
	l := c.waitReadyLeader()
	_, ok := c.serverOf(l, fid)
	require.False(t, ok, "the follower left the configuration")
	c.apply(ctx, l, "set:x=1")

	lid := c.nodes[l].Name()
	require.NoError(t, c.nodes[l].Leave(ctx))
	c.nodes[l] = nil
	last := c.waitReadyLeader()
	servers, err := c.nodes[last].Configuration(ctx)
	require.NoError(t, err)
	require.Len(t, servers, 1, "only the last server remains (the leader %s left)", lid)
	c.apply(ctx, last, "set:x=2")

	// The last voter cannot leave by removal; it only closes.
	require.NoError(t, c.nodes[last].Leave(ctx))
}

// transferred tells a transfer whose answer was lost from one that did not
// happen, by where leadership went.
func TestTransferredReadsWhereLeadershipWent(t *testing.T) {
	c := newCluster(t, 3)
	l := c.leader()
	f := (l + 1) % 3
	old := c.nodes[l].Addr()
	short, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	require.False(t, c.nodes[f].transferred(short, old, ""), "the leader did not change")

	ctx := testkit.Context(t, 30*time.Second)
	require.NoError(t, c.nodes[l].LeadershipTransfer(ctx))
	require.True(t, c.nodes[f].transferred(ctx, old, ""))
	now := c.nodes[f].Leader().Name
	require.True(t, c.nodes[f].transferred(ctx, old, now))
	other := ""
	for _, nd := range c.nodes {
		if nd.Name() != now && nd.Addr() != old {
			other = nd.Name()
		}
	}
	require.False(t, c.nodes[f].transferred(ctx, old, other), "leadership went elsewhere than asked")
}
