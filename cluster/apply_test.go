package cluster

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/testkit"
)

// A client node learns which server leads and sends its writes there
// first; when that server leaves, it finds the next leader and its writes
// go on, each applied once.
func TestClientNodeWritesToLeader(t *testing.T) {
	nodes := startServers(t, 3)
	lead := leaderOf(t, nodes)
	client := startNode(t, Config{
		Name: "c0", BindAddr: "127.0.0.1:0", Profile: ProfileLocal,
		Seeds: []string{nodes[0].Local().Address()}, Logger: testkit.Logger(t),
	})
	testkit.WaitFor(t, 10*time.Second, func() bool { return len(client.Members()) == 4 }, "client sees 4 members")
	ctx := testkit.Context(t, 60*time.Second)

	seq := 0
	// write applies the next key; it is idempotent, so a write whose
	// outcome is unknown (the leader stepping down under it) is sent again.
	write := func() {
		t.Helper()
		for {
			res, err := client.Apply(ctx, fmt.Appendf(nil, "set k%d v%d", seq, seq))
			if errors.Is(err, ErrOutcomeUnknown) {
				continue
			}
			require.NoError(t, err)
			require.Equal(t, "ok", string(res))
			seq++
			return
		}
	}
	testkit.WaitFor(t, 10*time.Second, func() bool {
		write()
		return client.client.LeaderAddr() == lead.RaftAddr()
	}, "the client learns the leader")
	require.Equal(t, lead.RaftAddr(), client.routes.servers(true)[0], "the leader is tried first")

	require.NoError(t, lead.Leave(ctx))
	require.NoError(t, lead.Close())
	var rest []*testNode
	for _, n := range nodes {
		if n != lead {
			rest = append(rest, n)
		}
	}
	next := leaderOf(t, rest)
	testkit.WaitFor(t, 20*time.Second, func() bool {
		write()
		return client.client.LeaderAddr() == next.RaftAddr()
	}, "the client learns the next leader")
	for _, n := range rest {
		testkit.WaitFor(t, 10*time.Second, func() bool { return n.fsm.get(fmt.Sprintf("k%d", seq-1)) != "" }, "%s applies the last write", n.Name())
		for i := range seq {
			require.Equal(t, fmt.Sprintf("v%d", i), n.fsm.get(fmt.Sprintf("k%d", i)), "%s k%d", n.Name(), i)
		}
	}
}
