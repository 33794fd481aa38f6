package clustertest_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/cluster/clustertest"
	"github.com/conclave-go/conclave/consensus"
)

// TestCounterSurvivesAPartition is the snippet of README.md.
func TestCounterSurvivesAPartition(t *testing.T) {
	c := clustertest.New(t, 3, clustertest.WithStateMachine(func() consensus.StateMachine { return &counter{} }))
	ctx := t.Context()

	old := c.WaitLeader()
	c.Partition([]int{old}, c.Except(old)) // the leader alone on one side
	lead := c.WaitLeader(c.Except(old)...) // the majority elects another
	_, err := c.Node(lead).Apply(ctx, []byte("incr"))
	require.NoError(t, err)

	c.Heal()
	got, err := c.Node(old).Query(ctx, consensus.Linearizable, nil)
	require.NoError(t, err)
	require.Equal(t, "1", string(got))
}
