package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/cluster"
	"github.com/conclave-go/conclave/consensus"
)

// fakeSnapshotter answers Snapshot after writing partial bytes, and
// Restore, with err.
type fakeSnapshotter struct {
	fakeBackend
	partial string
}

func (f fakeSnapshotter) Snapshot(_ context.Context, w io.Writer) error {
	if f.partial != "" {
		_, _ = io.WriteString(w, f.partial)
	}
	return f.err
}

func (f fakeSnapshotter) Restore(_ context.Context, r io.Reader) error {
	_, _ = io.Copy(io.Discard, r)
	return f.err
}

func TestBackupAPIErrors(t *testing.T) {
	down := fmt.Errorf("%w: %w", consensus.ErrNoLeader, context.DeadlineExceeded)
	base := testAPI(t, fakeSnapshotter{fakeBackend: fakeBackend{err: down}}, time.Second)
	apiCase{"snapshot before any byte", "GET", "/cluster/snapshot", "", false, 503, "no leader"}.run(t, base)
	apiCase{"restore method", "GET", "/cluster/restore", "", false, 405, "not allowed"}.run(t, base)

	for _, c := range []struct {
		err    error
		status int
		text   string
	}{
		{fmt.Errorf("%w: checksum mismatch", cluster.ErrBadSnapshot), 400, "checksum mismatch"},
		{&consensus.NotLeaderError{LeaderName: "n2"}, 503, "send the backup again"},
		{down, 503, "send the backup again"},
		{fmt.Errorf("%w: %w", consensus.ErrOutcomeUnknown, errors.New("reset")), 504, "read the data before"},
		{errors.New("disk full"), 500, "disk full"},
	} {
		base := testAPI(t, fakeSnapshotter{fakeBackend: fakeBackend{err: c.err}}, time.Second)
		apiCase{c.text, "POST", "/cluster/restore", "data", false, c.status, c.text}.run(t, base)
	}

	// A failure once bytes went out aborts the download: the client sees a
	// broken transfer, never a complete-looking file.
	base = testAPI(t, fakeSnapshotter{fakeBackend: fakeBackend{err: errors.New("disk gone")}, partial: "CNCLSNAP..."}, time.Second)
	resp, err := httpClient.Get(base + "/cluster/snapshot")
	if err == nil { // the headers went out: the body breaks
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		_, err = io.ReadAll(resp.Body)
	}
	require.Error(t, err)
}
