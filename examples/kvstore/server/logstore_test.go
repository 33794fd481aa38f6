package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"

	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/internal/testkit"
)

// otherBolt is a log store offered with WithLogStore in these tests: bolt
// in a file of its own, recorded under another name than its -log-store
// value.
func otherBolt(*slog.Logger) consensus.LogStoreConfig {
	return consensus.LogStoreConfig{Name: "other-bolt", Open: func(dir string) (consensus.LogStore, error) {
		return raftboltdb.New(raftboltdb.Options{
			Path:        filepath.Join(dir, "other.db"),
			BoltOptions: &bbolt.Options{Timeout: time.Second},
		})
	}}
}

func TestLogStoreFlag(t *testing.T) {
	base := []string{"-name", "n1", "-data", "d"}
	o, err := parseFlags(base, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "bolt", o.logStore, "the default")
	require.Zero(t, o.logStoreConfig(nil), "bolt is consensus's zero LogStoreConfig")

	// This build has no raft-wal: the error says where to get a kvstore
	// that has it, from the flag and from the environment alike.
	_, err = parseFlags(append(base, "-log-store", "wal"), io.Discard)
	var usage *UsageError
	require.ErrorAs(t, err, &usage)
	require.ErrorContains(t, err, "-log-store wal: this kvstore is built without raft-wal")
	require.ErrorContains(t, err, "(cd raftwal && go build -o kvstore-wal ./cmd/kvstore)")
	t.Run("environment", func(t *testing.T) {
		t.Setenv("KVSTORE_LOG_STORE", "wal")
		_, err := parseFlags(base, io.Discard)
		require.ErrorAs(t, err, &usage)
		require.ErrorContains(t, err, "built without raft-wal")
	})

	_, err = parseFlags(append(base, "-log-store", "btree"), io.Discard)
	require.ErrorAs(t, err, &usage)
	require.ErrorContains(t, err, `-log-store: "btree" is not one of bolt (wal: in the kvstore of the raftwal module`)

	// A store offered by the build is selected by its name, and listed.
	other := WithLogStore("other", otherBolt)
	o, err = parseFlags(append(base, "-log-store", "other"), io.Discard, other)
	require.NoError(t, err)
	require.Equal(t, "other-bolt", o.logStoreConfig(nil).Name)
	_, err = parseFlags(append(base, "-log-store", "btree"), io.Discard, other)
	require.ErrorContains(t, err, `"btree" is not one of bolt, other (wal:`)
	var help strings.Builder
	_, err = parseFlags([]string{"-h"}, &help, other)
	require.Contains(t, help.String(), "Raft log store: bolt, other")
	require.Contains(t, help.String(), "[KVSTORE_LOG_STORE]")
}

// A bad WithLogStore is the program's error, not the command line's.
func TestWithLogStoreRefusesBadNames(t *testing.T) {
	for _, c := range []struct {
		opts []Option
		want string
	}{
		{[]Option{WithLogStore("bolt", otherBolt)}, `WithLogStore("bolt"): bolt is the default store`},
		{[]Option{WithLogStore("", otherBolt)}, `WithLogStore(""): the name must be 1 to 32 bytes`},
		{[]Option{WithLogStore("Wal", otherBolt)}, `WithLogStore("Wal"): the name must be 1 to 32 bytes of a-z`},
		{[]Option{WithLogStore("x", otherBolt), WithLogStore("x", otherBolt)}, `WithLogStore("x"): the name is given twice`},
		{[]Option{WithLogStore("x", nil)}, `WithLogStore("x"): the store function is nil`},
	} {
		err := Run(context.Background(), []string{"-name", "n1", "-data", "d"}, io.Discard, io.Discard, c.opts...)
		require.ErrorContains(t, err, c.want)
		var usage *UsageError
		require.NotErrorAs(t, err, &usage)
	}
}

// A data dir keeps the store it was created with: started with another
// -log-store, the node refuses to start and says which value to give.
func TestLogStoreMismatchNamesTheFlag(t *testing.T) {
	dir := t.TempDir()
	args := []string{
		"-name", "solo", "-gossip", "127.0.0.1:0", "-raft", "127.0.0.1:0", "-http", "127.0.0.1:0",
		"-data", dir, "-bootstrap-expect", "1", "-profile", "local",
	}
	other := WithLogStore("other", otherBolt)
	addr, stop := runInProcess(t, append(args, "-log-store", "other"), other)
	testkit.WaitFor(t, 30*time.Second, func() bool {
		code, _, _ := do(context.Background(), http.MethodPut, "http://"+addr+"/kv/k", []byte("v"))
		return code == http.StatusNoContent
	}, "a write")
	require.NoError(t, stop())
	require.FileExists(t, filepath.Join(dir, "other.db"))
	require.NoFileExists(t, filepath.Join(dir, "raft.db"))

	err := Run(context.Background(), args, io.Discard, io.Discard, other)
	require.ErrorIs(t, err, consensus.ErrLogStoreMismatch)
	require.EqualError(t, err, "-log-store bolt: "+dir+" was created with -log-store other and keeps that store: "+
		"start the node with -log-store other, or move its log to bolt with consensus.MigrateLogStore while the node is stopped "+
		`(see the kvstore README, "Log store")`)

	// A build without that store cannot name its value: it names the
	// flag and gives consensus's reason.
	err = Run(context.Background(), args, io.Discard, io.Discard)
	require.ErrorIs(t, err, consensus.ErrLogStoreMismatch)
	require.ErrorContains(t, err, "-log-store bolt: ")
	require.ErrorContains(t, err, `holds log store "other-bolt"`)
	require.NoFileExists(t, filepath.Join(dir, "raft.db"), "the refused store created nothing")
}
