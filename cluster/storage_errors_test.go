package cluster

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A server whose raft.db is damaged does not start, and says so with an
// error a caller of this package can match without importing consensus.
func TestStartOnDamagedLogNamesTheFile(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "raft.db")
	require.NoError(t, os.WriteFile(db, []byte("not a bolt database, but long enough to be read as one......"), 0o600))
	cfg, _ := serverConfig(t, "s0", dir, 1)
	n, err := New(cfg)
	require.NoError(t, err)
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = n.Start(ctx)
	require.ErrorIs(t, err, ErrCorruptLog)
	require.ErrorContains(t, err, db)
}
