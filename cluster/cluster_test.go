package cluster

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/internal/testkit"
)

func TestBootstrapExpectFormsOneCluster(t *testing.T) {
	nodes := startServers(t, 3)
	lead := leaderOf(t, nodes)

	res, err := nodes[2].Apply(testkit.Context(t, 10*time.Second), []byte("set a 1"))
	require.NoError(t, err)
	require.Equal(t, "ok", string(res))

	for _, n := range nodes {
		got, err := n.Query(testkit.Context(t, 10*time.Second), consensus.Linearizable, []byte("a"))
		require.NoError(t, err)
		require.Equal(t, "1", string(got), "node %s", n.Name())
	}
	h := waitHealth(t, lead.Node, 10*time.Second, func(h Health) bool { return h.Leader.Name != "" }, "a group state with a leader")
	require.Equal(t, 3, h.Voters)
	require.Equal(t, lead.Name(), h.Leader.Name)
}

func TestClientAppliesAndQueriesThroughServers(t *testing.T) {
	nodes := startServers(t, 3)
	leaderOf(t, nodes)
	client := startNode(t, Config{
		Name: "c0", BindAddr: "127.0.0.1:0", Profile: ProfileLocal,
		Seeds: []string{nodes[1].Local().Address()}, Logger: testkit.Logger(t),
	})
	require.False(t, client.IsServer())
	testkit.WaitFor(t, 10*time.Second, func() bool { return len(client.Members()) == 4 }, "client sees 4 members")

	for i := range 5 {
		_, err := client.Apply(testkit.Context(t, 10*time.Second), fmt.Appendf(nil, "set k%d v%d", i, i))
		require.NoError(t, err)
	}
	got, err := client.Query(testkit.Context(t, 10*time.Second), consensus.Linearizable, []byte("k4"))
	require.NoError(t, err)
	require.Equal(t, "v4", string(got))

	_, err = client.Apply(testkit.Context(t, 10*time.Second), []byte("bogus"))
	var smErr *consensus.StateMachineError
	require.ErrorAs(t, err, &smErr, "the FSM's own error travels back as a value")

	require.ErrorIs(t, client.Read(testkit.Context(t, time.Second), consensus.Stale, func(consensus.StateMachine) error { return nil }), ErrNotServer)
	_, err = client.Health(testkit.Context(t, time.Second))
	require.ErrorIs(t, err, ErrNotServer)
}
