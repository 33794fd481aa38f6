package consensus

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestNodeMetricsCountsOutcomes(t *testing.T) {
	m := newNodeMetrics()
	start := time.Now()
	m.applied(start, false, nil)
	m.applied(start, true, fmt.Errorf("%w: lost", ErrOutcomeUnknown))
	m.readDone(start, Linearizable, fmt.Errorf("%w: deadline", ErrNoLeader))
	m.readDone(start, Stale, errors.New("other"))
	require.Equal(t, uint64(1), m.apply.Snapshot().Count)
	require.Equal(t, uint64(1), m.fwdApply.Snapshot().Count)
	require.Equal(t, uint64(1), m.read[Linearizable].Snapshot().Count)
	require.Equal(t, uint64(1), m.read[Stale].Snapshot().Count)
	require.Equal(t, uint64(1), m.outcomeUnknown.Load())
	require.Equal(t, uint64(1), m.noLeader.Load())
}

func TestLeaderChangesCountNewTermsOnly(t *testing.T) {
	m := newNodeMetrics()
	m.leaderSeen(LeaderInfo{Name: "a", Term: 2})
	m.leaderSeen(LeaderInfo{Name: "a", Term: 2}) // the same observation again
	m.leaderSeen(LeaderInfo{})                   // leader lost: not a change of office
	m.leaderSeen(LeaderInfo{Name: "b", Term: 3})
	m.leaderSeen(LeaderInfo{Name: "a", Term: 2}) // a stale observation
	require.Equal(t, uint64(2), m.leaderChanges.Load())
}

// BenchmarkMetricsApplied is what the metrics add to every Apply call: the
// clock reads and the histogram's adds, from many goroutines at once.
func BenchmarkMetricsApplied(b *testing.B) {
	m := newNodeMetrics()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.applied(time.Now(), false, nil)
		}
	})
}
