package bench

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestResultPercentiles(t *testing.T) {
	var r Result
	r.Add(Result{Ops: 3, Elapsed: time.Second, lat: []time.Duration{3, 1, 2}})
	r.Add(Result{Ops: 1, Errors: 2, FirstErr: errors.New("x"), Elapsed: time.Second, lat: []time.Duration{4}})
	require.Equal(t, 4, r.Ops)
	require.Equal(t, 2, r.Errors)
	require.InDelta(t, 2.0, r.Throughput(), 1e-9)
	require.Equal(t, time.Duration(1), r.Percentile(0))
	require.Equal(t, time.Duration(3), r.Percentile(0.5))
	require.Equal(t, time.Duration(4), r.Percentile(0.99))
	require.Equal(t, time.Duration(0), (&Result{}).Percentile(0.5))
}

func TestRunNCountsEveryOperation(t *testing.T) {
	var calls atomic.Int64
	r := RunN(context.Background(), 8, 100, func(context.Context, int, int) error {
		if calls.Add(1)%10 == 0 {
			return errors.New("every tenth fails")
		}
		return nil
	})
	require.Equal(t, int64(100), calls.Load())
	require.Equal(t, 90, r.Ops)
	require.Equal(t, 10, r.Errors)
	require.Len(t, r.lat, 90)
}

func TestSamplesQuantiles(t *testing.T) {
	s := Samples{5, 1, 4, 2, 3}
	require.Equal(t, time.Duration(3), s.Quantile(0.5))
	require.Equal(t, time.Duration(5), s.Quantile(0.9))
	require.Equal(t, time.Duration(5), s.Max())
	require.Equal(t, Samples{5, 1, 4, 2, 3}, s, "Quantile must not reorder the samples")
}

func TestKVSnapshotRoundTrip(t *testing.T) {
	a := newKV()
	for k := range uint64(10) {
		_, err := a.apply(Command(k, 8+int(k)))
		require.NoError(t, err)
	}
	_, err := a.apply([]byte{1, 2})
	require.ErrorIs(t, err, errShortCommand)
	var buf bytes.Buffer
	require.NoError(t, writeSnapshot(&buf, a.capture()))
	b := newKV()
	require.NoError(t, b.restore(&buf))
	for k := range uint64(10) {
		va, _ := a.get(Query(k))
		vb, _ := b.get(Query(k))
		require.Equal(t, va, vb)
	}
	require.Error(t, b.restore(bytes.NewReader([]byte{1, 2, 3})), "a truncated snapshot is an error")
}
