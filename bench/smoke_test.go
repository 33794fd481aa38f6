package bench

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/conclave-go/conclave/cluster"
)

// TestSmoke runs every scenario once in short form, so that a change to the
// library that breaks the harness shows up without a full run. It takes
// about two minutes and runs only with CONCLAVE_BENCH_SMOKE=1.
func TestSmoke(t *testing.T) {
	smoke(t)
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := t.TempDir()

	t.Run("throughput", func(t *testing.T) {
		env, err := StartEnv(ctx, EnvOptions{Dir: filepath.Join(dir, "env")})
		require.NoError(t, err)
		defer func() { require.NoError(t, env.Close()) }()
		rows, err := env.Writes(ctx, []int{1, 8}, []int{64}, 1, 100*time.Millisecond)
		require.NoError(t, err)
		reads, err := env.Reads(ctx, []int{4}, 1, 100*time.Millisecond)
		require.NoError(t, err)
		rows = append(rows, reads...)
		for _, r := range rows {
			require.Zero(t, r.Result.Errors, "%s %s: %v", r.Section, r.Name, r.Result.FirstErr)
			require.Positive(t, r.Result.Ops, "%s %s", r.Section, r.Name)
		}
	})
	t.Run("failover", func(t *testing.T) {
		o := FailoverOptions{Dir: filepath.Join(dir, "failover"), Profile: cluster.ProfileLocal, Trials: 1}
		s, err := Failover(ctx, o)
		require.NoError(t, err)
		require.Len(t, s, 1)
		o.Dir = filepath.Join(dir, "leave")
		lr, err := LeaderLeave(ctx, o)
		require.NoError(t, err)
		require.Len(t, lr.Pause, 1)
		o.Dir = filepath.Join(dir, "close")
		cr, err := LeaderClose(ctx, o)
		require.NoError(t, err)
		require.Len(t, cr.Pause, 1)
	})
	t.Run("gossip", func(t *testing.T) {
		o := GossipOptions{N: 3, Profile: cluster.ProfileLocal, Trials: 1}
		s, err := Detection(ctx, o)
		require.NoError(t, err)
		require.Len(t, s, 1)
		s, err = HealTime(ctx, o)
		require.NoError(t, err)
		require.Len(t, s, 1)
		_, err = PauseFalseFailures(ctx, o, 100*time.Millisecond, 100*time.Millisecond)
		require.NoError(t, err)
	})
	t.Run("scale", func(t *testing.T) {
		o := ScaleOptions{N: 10, Profile: cluster.ProfileLocal, Trials: 1, Pause: 100 * time.Millisecond, Settle: time.Second, Idle: time.Second, IdleAfter: time.Second}
		r, err := Scale(ctx, o)
		require.NoError(t, err)
		require.Positive(t, r.Formation)
		require.Positive(t, r.IdleBytes)
		require.Equal(t, 1, r.Paused)
		require.Len(t, r.Detection, 1)
		require.Len(t, r.Heal, 1)
	})
	t.Run("footprint", func(t *testing.T) {
		r, err := Footprint(ctx, filepath.Join(dir, "footprint"), 3, 3, 100*time.Millisecond)
		require.NoError(t, err)
		require.Positive(t, r.Goroutines)
	})
	t.Run("http", func(t *testing.T) {
		bin := filepath.Join(dir, "kvstore")
		out, err := exec.Command("go", "build", "-o", bin, "../examples/kvstore").CombinedOutput()
		require.NoError(t, err, "%s", out)
		kv, err := StartKVStore(ctx, bin, filepath.Join(dir, "kv"), "local")
		require.NoError(t, err)
		defer func() { _ = kv.Close() }()
		con, err := StartConclave(ctx, ConclaveOptions{Dir: filepath.Join(dir, "inproc"), Profile: cluster.ProfileLocal})
		require.NoError(t, err)
		defer func() { require.NoError(t, con.Close()) }()
		rows, err := HTTPComparison(ctx, kv, con, []int{2}, 1, 100*time.Millisecond)
		require.NoError(t, err)
		more, err := HTTPProtocols(ctx, kv, []int{2}, []int{4}, 1, 100*time.Millisecond)
		require.NoError(t, err)
		require.Len(t, more, 6)
		for _, r := range append(rows, more...) {
			require.Zero(t, r.Result.Errors, "%s %s %s: %v", r.Section, r.Name, r.Level, r.Result.FirstErr)
		}
	})
	t.Run("peers", func(t *testing.T) {
		bin := filepath.Join(dir, "kvstore-peers")
		out, err := exec.Command("go", "build", "-o", bin, "../examples/kvstore").CombinedOutput()
		require.NoError(t, err, "%s", out)
		wrk, _ := exec.LookPath("wrk") // the Go load alone without it
		kv := PeerSpec{Name: "kvstore", Start: func(ctx context.Context, d string) (*PeerSystem, error) {
			return StartKVStorePeer(ctx, bin, d)
		}}
		rows, err := ComparePeers(ctx, PeerOptions{
			Dir: filepath.Join(dir, "peers"), Systems: []PeerSpec{kv}, Ops: []string{PeerWrite, PeerStale, PeerLinearizable},
			Clients: []int{2}, Rounds: 1, Slice: time.Second, Wrk: wrk,
		})
		require.NoError(t, err)
		if wrk != "" {
			require.Len(t, rows, 6)
		} else {
			require.Len(t, rows, 3)
		}
		for _, r := range rows {
			require.Zero(t, r.Result.Errors, "%s %s: %v", r.Load, r.Op, r.Result.FirstErr)
			require.Positive(t, r.Result.Ops, "%s %s", r.Load, r.Op)
		}
	})
}
