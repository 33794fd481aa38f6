package cluster

import (
	"github.com/conclave-go/conclave/internal/testkit"

	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A server restarted on its data dir is ready only once its state machine
// holds every write acknowledged before the restart, including those made
// while it was down.
func TestWaitReadyOnARestartedServer(t *testing.T) {
	nodes := startServers(t, 3)
	lead := leaderOf(t, nodes)
	for _, n := range nodes {
		require.NoError(t, n.WaitReady(testkit.Context(t, 30*time.Second)))
		require.True(t, n.Ready(), n.Name())
	}
	for i := range 10 {
		_, err := lead.Apply(testkit.Context(t, 10*time.Second), fmt.Appendf(nil, "set k%d v%d", i, i))
		require.NoError(t, err)
	}
	victim := followerIndex(nodes, lead)
	v := nodes[victim]
	require.NoError(t, v.Close())
	require.False(t, v.Ready(), "a closed node is not ready")
	_, err := lead.Apply(testkit.Context(t, 10*time.Second), []byte("set late x"))
	require.NoError(t, err)

	nodes[victim] = restart(t, v, v.dir, lead.Local().Address())
	require.NoError(t, nodes[victim].WaitReady(testkit.Context(t, 30*time.Second)))
	require.True(t, nodes[victim].Ready())
	require.Equal(t, "x", nodes[victim].fsm.get("late"), "ready means caught up")
	for i := range 10 {
		require.Equal(t, fmt.Sprintf("v%d", i), nodes[victim].fsm.get(fmt.Sprintf("k%d", i)))
	}
}

// A server alone, waiting for two more to bootstrap with, is not ready;
// before Start and after Close the lifecycle errors say why.
func TestWaitReadyWithoutALeader(t *testing.T) {
	cfg, _ := serverConfig(t, "alone", t.TempDir(), 3)
	n, err := New(cfg)
	require.NoError(t, err)
	require.ErrorIs(t, n.WaitReady(testkit.Context(t, time.Second)), ErrNotStarted)
	require.False(t, n.Ready())
	require.NoError(t, n.Start(testkit.Context(t, 20*time.Second)))
	err = n.WaitReady(testkit.Context(t, 300*time.Millisecond))
	require.ErrorIs(t, err, ErrNoLeader)
	require.False(t, n.Ready())
	require.NoError(t, n.Close())
	require.ErrorIs(t, n.WaitReady(testkit.Context(t, time.Second)), ErrClosed)
}

// A client is ready once a server answers it.
func TestWaitReadyOnAClient(t *testing.T) {
	client := startNode(t, Config{Name: "client", BindAddr: "127.0.0.1:0", Profile: ProfileLocal, Logger: testkit.Logger(t)})
	require.ErrorIs(t, client.WaitReady(testkit.Context(t, 300*time.Millisecond)), ErrNoServers, "no server known yet")
	require.False(t, client.Ready())

	nodes := startServers(t, 1)
	_, err := client.Membership().Join(testkit.Context(t, 10*time.Second), []string{nodes[0].Local().Address()})
	require.NoError(t, err)
	require.NoError(t, client.WaitReady(testkit.Context(t, 30*time.Second)))
	require.True(t, client.Ready())
	_, err = client.Apply(testkit.Context(t, 10*time.Second), []byte("set a b"))
	require.NoError(t, err)
}
