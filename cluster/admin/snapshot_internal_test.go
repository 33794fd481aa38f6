package admin

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/cluster"
)

type fakeSnapshotter func(ctx context.Context, w io.Writer) error

func (f fakeSnapshotter) Snapshot(ctx context.Context, w io.Writer) error { return f(ctx, w) }

func snapshotRequest(t *testing.T, snap Snapshotter) *httptest.ResponseRecorder {
	n, err := cluster.New(cluster.Config{Name: "snap", BindAddr: "127.0.0.1:0"})
	require.NoError(t, err)
	h := New(n, Options{})
	t.Cleanup(h.Close)
	h.snap = snap
	req := httptest.NewRequest(http.MethodPost, "/ops/snapshot", nil)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestSnapshotStreamsADownload(t *testing.T) {
	rec := snapshotRequest(t, fakeSnapshotter(func(_ context.Context, w io.Writer) error {
		_, err := io.WriteString(w, "state")
		return err
	}))
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "application/octet-stream", rec.Header().Get("Content-Type"))
	require.True(t, strings.HasPrefix(rec.Header().Get("Content-Disposition"), `attachment; filename="snap-`))
	require.Equal(t, "state", rec.Body.String())
}

func TestSnapshotErrorBeforeTheFirstByteIsJSON(t *testing.T) {
	rec := snapshotRequest(t, fakeSnapshotter(func(context.Context, io.Writer) error {
		return cluster.ErrNoLeader
	}))
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	require.Contains(t, rec.Body.String(), `"error": "snapshot: consensus: no leader"`)
}

func TestSnapshotErrorAfterTheFirstByteAborts(t *testing.T) {
	require.PanicsWithValue(t, http.ErrAbortHandler, func() {
		snapshotRequest(t, fakeSnapshotter(func(_ context.Context, w io.Writer) error {
			_, _ = io.WriteString(w, "sta")
			return errors.New("disk gone")
		}))
	})
}
