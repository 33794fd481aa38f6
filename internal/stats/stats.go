// Package stats holds the lock-free counters and latency histograms that the
// core packages keep for whoever wants to export them (cluster/metrics turns
// them into Prometheus metrics). Recording costs a few atomic adds; reading
// copies the counts. Nothing here knows of Prometheus.
package stats

import (
	"sync/atomic"
	"time"
)

// LatencyBounds are the upper bounds, in seconds, of every latency
// histogram's buckets: 100µs to 10s, roughly ×2.5 apart. The last bucket
// (+Inf) is implicit.
var LatencyBounds = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// SizeBounds are the upper bounds of the batch-size histograms' buckets.
var SizeBounds = []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512}

// Histogram counts observations into fixed buckets. The zero value is not
// usable: create it with NewHistogram. It is safe for concurrent use.
type Histogram struct {
	bounds []float64
	counts []atomic.Uint64 // one per bound, plus +Inf; not cumulative
	count  atomic.Uint64
	sum    atomic.Uint64 // in units of 1e-9 (nanoseconds for latencies)
}

// NewHistogram returns a histogram with the given ascending upper bounds.
func NewHistogram(bounds []float64) *Histogram {
	return &Histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
}

// ObserveDuration records d in seconds.
func (h *Histogram) ObserveDuration(d time.Duration) {
	h.record(d.Seconds(), uint64(max(d, 0)))
}

// Observe records v (a non-negative value such as a batch size).
func (h *Histogram) Observe(v float64) {
	h.record(v, uint64(max(v, 0)*1e9))
}

func (h *Histogram) record(v float64, nanos uint64) {
	i := 0
	for i < len(h.bounds) && v > h.bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(nanos)
	h.count.Add(1)
}

// Snapshot returns the histogram's current counts.
func (h *Histogram) Snapshot() HistogramSnapshot {
	s := HistogramSnapshot{Buckets: make([]Bucket, len(h.bounds))}
	var cum uint64
	for i, b := range h.bounds {
		cum += h.counts[i].Load()
		s.Buckets[i] = Bucket{UpperBound: b, Count: cum}
	}
	s.Count = cum + h.counts[len(h.bounds)].Load()
	s.Sum = float64(h.sum.Load()) / 1e9
	return s
}

// HistogramSnapshot is a histogram's counts at one moment, in the shape
// Prometheus expects: cumulative bucket counts.
type HistogramSnapshot struct {
	// Count is the number of observations and Sum their total (in seconds
	// for latencies).
	Count uint64
	Sum   float64
	// Buckets hold, for each upper bound, how many observations were at
	// most that bound (cumulative); observations above the last bound are
	// counted in Count only.
	Buckets []Bucket
}

// Bucket is one cumulative histogram bucket.
type Bucket struct {
	UpperBound float64
	Count      uint64
}
