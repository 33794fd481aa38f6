package server

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/internal/testkit"
)

func TestFlagErrors(t *testing.T) {
	base := []string{"-name", "n1", "-data", "/tmp/x"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-data", "d"}, "-name is required"},
		{[]string{"-name", "n"}, "-data is required"},
		{append(base, "-gossip", "nohost"), "-gossip"},
		{append(base, "-raft", "h:99999"), "-raft"},
		{append(base, "-http", "h:x"), "-http"},
		{append(base, "-join", "a:1,b"), "-join"},
		{append(base, "-profile", "turbo"), "-profile"},
		{append(base, "-bootstrap-expect", "-1"), "-bootstrap-expect"},
		{append(base, "-max-value-size", "0"), "-max-value-size"},
		{append(base, "-max-key-size", "100000"), "-max-key-size"},
		{append(base, "-request-timeout", "0s"), "-request-timeout"},
		{append(base, "-snapshot-threshold", "0"), "-snapshot-threshold"},
		{append(base, "-snapshot-interval", "1ms"), "-snapshot-interval"},
		{append(base, "-log-level", "loud"), "-log-level"},
		{append(base, "-no-such-flag"), "no-such-flag"},
		{append(base, "-gossip", "0.0.0.0:7946"), "-gossip 0.0.0.0:7946 binds every interface"},
		{append(base, "-raft", ":7950"), "-raft :7950 binds every interface"},
		{append(base, "-advertise", "0.0.0.0"), "wildcard"},
		{append(base, "-advertise", "node.example.com"), "not an IP address"},
		{append(base, "-advertise-raft", "224.0.0.1"), "not a unicast address"},
		{append(base, "-advertise-gossip", "10.0.0.1:x"), "bad port"},
		{append(base, "-tls-cert", "/nonexistent"), "-tls-key is required"},
		{append(base, "-http-tls-key", "/nonexistent"), "-http-tls-cert is required"},
		{append(base, "-gossip-key", "!!"), "not base64"},
		{append(base, "-gossip-key", "c2hvcnQ="), "5 bytes"},
		{append(base, "extra"), "unexpected argument"},
		{append(base, "-tls-ca", "ca.pem"), "-tls-cert is required"},
		{append(base, "-gossip-key", "c2hvcnQ=", "-gossip-key-file", "k"), "exclude each other"},
	} {
		err := Run(context.Background(), c.args, io.Discard, io.Discard)
		var usage *UsageError
		require.ErrorAs(t, err, &usage, "%v", c.args)
		require.Contains(t, err.Error(), c.want, "%v", c.args)
	}
	require.ErrorIs(t, Run(context.Background(), []string{"-h"}, io.Discard, io.Discard), flag.ErrHelp)
}

func TestFlagsFromEnvironment(t *testing.T) {
	t.Setenv("KVSTORE_NAME", "from-env")
	t.Setenv("KVSTORE_DATA", "/var/lib/kv")
	t.Setenv("KVSTORE_BOOTSTRAP_EXPECT", "3")
	t.Setenv("KVSTORE_LEAVE_ON_EXIT", "true")
	t.Setenv("KVSTORE_GOSSIP", "0.0.0.0:7946")
	t.Setenv("KVSTORE_ADVERTISE", "10.0.0.5")
	o, err := parseFlags([]string{"-bootstrap-expect", "5"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "from-env", o.name)
	require.Equal(t, "/var/lib/kv", o.dataDir)
	require.Equal(t, 5, o.bootstrapExpect, "a flag wins over the environment")
	require.True(t, o.leaveOnExit)
	require.Equal(t, "10.0.0.5", o.gossipAdvertise())
	require.Equal(t, "10.0.0.5", o.raftAdvertise())

	t.Setenv("KVSTORE_MAX_KEY_SIZE", "lots")
	_, err = parseFlags(nil, io.Discard)
	var usage *UsageError
	require.ErrorAs(t, err, &usage)
	require.ErrorContains(t, err, `KVSTORE_MAX_KEY_SIZE="lots" (for -max-key-size)`)
}

// -h lists every flag with the environment variable that sets it.
func TestHelpListsEnvironment(t *testing.T) {
	var out strings.Builder
	_, err := parseFlags([]string{"-h"}, &out)
	require.ErrorIs(t, err, flag.ErrHelp)
	for _, want := range []string{"-advertise-raft", "[KVSTORE_ADVERTISE_RAFT]", "-gossip-key", "[KVSTORE_GOSSIP_KEY]", "[KVSTORE_NAME]"} {
		require.Contains(t, out.String(), want)
	}
}

func TestFlagDefaults(t *testing.T) {
	o, err := parseFlags([]string{"-name", "n1", "-data", "d", "-join", " a:1, b:2 ,"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, []string{"a:1", "b:2"}, o.join)
	require.Equal(t, 1<<20, o.maxValueSize)
	require.False(t, o.leaveOnExit)
	require.Equal(t, "lan", o.profile.String())
}

// runInProcess starts Run with args and opts on a goroutine and returns the HTTP
// address it serves and a function that cancels it and returns its error.
func runInProcess(t *testing.T, args []string, opts ...Option) (string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout testkit.SyncBuffer
	done := make(chan error, 1)
	go func() { done <- Run(ctx, args, &stdout, io.Discard, opts...) }()
	stop := func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return errors.New("run did not return within 30s of cancellation")
		}
	}
	var addr string
	testkit.WaitFor(t, 30*time.Second, func() bool {
		for f := range strings.FieldsSeq(stdout.String()) {
			if a, ok := strings.CutPrefix(f, "http="); ok {
				addr = a
				return true
			}
		}
		return false
	}, "the serving line")
	return addr, stop
}

// TestRunServesAndStops drives run in-process: it serves, and returns nil
// once its context is cancelled, with or without -leave-on-exit.
func TestRunServesAndStops(t *testing.T) {
	for _, leave := range []bool{false, true} {
		t.Run(fmt.Sprintf("leave=%v", leave), func(t *testing.T) {
			args := []string{
				"-name", "solo", "-gossip", "127.0.0.1:0", "-raft", "127.0.0.1:0", "-http", "127.0.0.1:0",
				"-data", t.TempDir(), "-bootstrap-expect", "1", "-profile", "local",
			}
			if leave {
				args = append(args, "-leave-on-exit")
			}
			addr, stop := runInProcess(t, args)
			testkit.WaitFor(t, 30*time.Second, func() bool {
				code, _, _ := do(context.Background(), http.MethodPut, "http://"+addr+"/kv/k", []byte("v"))
				return code == http.StatusNoContent
			}, "a write")
			require.NoError(t, stop())
		})
	}
}

// TestSnapshotSurvivesRestart takes snapshots through Raft, restarts the
// node on its data dir and reads everything back: the state is rebuilt from
// the snapshot plus the log after it.
func TestSnapshotSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	args := []string{
		"-name", "solo", "-gossip", testkit.FreeAddr(t), "-raft", testkit.FreeAddr(t), "-http", "127.0.0.1:0",
		"-data", dir, "-bootstrap-expect", "1", "-profile", "local",
		"-snapshot-threshold", "16", "-snapshot-interval", "20ms",
	}
	o, err := parseFlags(args, io.Discard)
	require.NoError(t, err)
	node, err := startNode(context.Background(), o, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range 100 {
		_, err := node.Apply(ctx, encodePut(fmt.Sprintf("k%d", i), fmt.Appendf(nil, "v%d", i)))
		require.NoError(t, err)
	}
	testkit.WaitFor(t, 30*time.Second, func() bool {
		return node.Consensus().Status().LastSnapshotIndex > 50
	}, "a snapshot")
	require.NoError(t, node.Close())

	node, err = startNode(context.Background(), o, nil)
	require.NoError(t, err)
	defer node.Close()
	require.Positive(t, node.Consensus().Status().LastSnapshotIndex)
	for i := range 100 {
		res, err := node.Query(ctx, consensus.Linearizable, encodeGet(fmt.Sprintf("k%d", i)))
		require.NoError(t, err)
		v, ok, err := decodeGet(res)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, fmt.Sprintf("v%d", i), string(v))
	}
}
