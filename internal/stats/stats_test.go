package stats

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHistogramBucketsAreCumulative(t *testing.T) {
	h := NewHistogram([]float64{1, 2, 4})
	for _, v := range []float64{0.5, 1, 1.5, 3, 100} {
		h.Observe(v)
	}
	s := h.Snapshot()
	require.Equal(t, uint64(5), s.Count)
	require.InDelta(t, 106.0, s.Sum, 1e-6)
	require.Equal(t, []Bucket{{1, 2}, {2, 3}, {4, 4}}, s.Buckets, "an observation on a bound counts in its bucket; 100 only in Count")
}

func TestHistogramDurationsInSeconds(t *testing.T) {
	h := NewHistogram(LatencyBounds)
	h.ObserveDuration(3 * time.Millisecond)
	h.ObserveDuration(-time.Second) // clock step: counted as zero
	s := h.Snapshot()
	require.Equal(t, uint64(2), s.Count)
	require.InDelta(t, 0.003, s.Sum, 1e-9)
	require.Equal(t, uint64(1), s.Buckets[0].Count)
	require.Equal(t, uint64(2), s.Buckets[len(s.Buckets)-1].Count)
}

func TestHistogramConcurrentUse(t *testing.T) {
	h := NewHistogram(SizeBounds)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				h.Observe(float64(i % 600))
				_ = h.Snapshot()
			}
		}()
	}
	wg.Wait()
	require.Equal(t, uint64(8000), h.Snapshot().Count)
}
