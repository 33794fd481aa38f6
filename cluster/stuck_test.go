package cluster

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/internal/testkit"
)

// blockingKV is a kv whose Apply can be held, as a full disk or a wedged
// state machine holds a server's applied index.
type blockingKV struct {
	*kv
	mu   sync.Mutex
	gate chan struct{} // non-nil: Apply waits for it to close
}

func (b *blockingKV) Apply(cmd []byte) ([]byte, error) {
	b.mu.Lock()
	gate := b.gate
	b.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return b.kv.Apply(cmd)
}

func (b *blockingKV) hold() {
	b.mu.Lock()
	b.gate = make(chan struct{})
	b.mu.Unlock()
}

func (b *blockingKV) release() {
	b.mu.Lock()
	if b.gate != nil {
		close(b.gate)
		b.gate = nil
	}
	b.mu.Unlock()
}

var _ consensus.StateMachine = (*blockingKV)(nil)

// A follower that keeps hearing from the leader but applies nothing while the
// group commits on is reported unhealthy, with the reason, and leaves the
// failure tolerance; once it applies again it is healthy again.
func TestStuckFollowerIsUnhealthy(t *testing.T) {
	fsms := map[string]*blockingKV{}
	nodes := startServers(t, 3, func(c *Config) {
		b := &blockingKV{kv: newKV()}
		fsms[c.Name] = b
		c.Consensus.StateMachine = b
		c.Tuning.ProgressTimeout = 2 * time.Second
	})
	lead := leaderOf(t, nodes)
	var victim string
	for _, n := range nodes {
		if n != lead {
			victim = n.Name()
			break
		}
	}
	t.Cleanup(fsms[victim].release) // before the nodes close
	ctx := testkit.Context(t, 60*time.Second)
	_, err := lead.Apply(ctx, []byte("set a 1"))
	require.NoError(t, err)
	waitHealth(t, lead.Node, 20*time.Second, func(h Health) bool { return h.FailureTolerance == 1 }, "tolerance 1")

	fsms[victim].hold()
	for i := range 5 { // the other two commit without it
		_, err := lead.Apply(ctx, []byte(fmt.Sprintf("set k%d v", i)))
		require.NoError(t, err)
	}
	h := waitHealth(t, lead.Node, 30*time.Second, func(h Health) bool {
		return !serverIn(t, h, victim).Healthy
	}, "the stuck follower reported unhealthy")
	s := serverIn(t, h, victim)
	require.Contains(t, s.Reason, "stuck: applied index")
	require.Contains(t, s.Reason, "StartFresh", "the reason says what to do")
	require.GreaterOrEqual(t, s.LastContact, time.Duration(0))
	require.Zero(t, h.FailureTolerance, "a stuck voter is no tolerance")
	require.Equal(t, 2, h.HealthyVoters)

	fsms[victim].release()
	waitHealth(t, lead.Node, 30*time.Second, func(h Health) bool {
		return serverIn(t, h, victim).Healthy && h.FailureTolerance == 1
	}, "healthy again once it applies")
}
