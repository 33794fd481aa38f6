package membership

import (
	"context"
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/faultnet"
	"github.com/conclave-go/conclave/internal/testkit"
)

// collect reads r until it is done and returns the responses by member and
// the acking members, sorted.
func collect(t *testing.T, r *QueryResult) (map[string]QueryResponse, []string) {
	t.Helper()
	resps := map[string]QueryResponse{}
	for resp := range r.Responses() {
		_, dup := resps[resp.From]
		require.False(t, dup, "two responses from %s", resp.From)
		resps[resp.From] = resp
	}
	<-r.Done()
	var acks []string
	for a := range r.Acks() {
		acks = append(acks, a)
	}
	sort.Strings(acks)
	return resps, acks
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func nameHandler(name string) QueryHandler {
	return func(_ context.Context, payload []byte) ([]byte, error) {
		return append([]byte(name+":"), payload...), nil
	}
}

// TestQueryUnderLoss queries ten members under 10% loss and gets ten acks
// and ten responses.
func TestQueryUnderLoss(t *testing.T) {
	fn := faultnet.New(23, testkit.Logger(t))
	defer fn.Close()
	nodes := faultCluster(t, fn, 10, nil)
	var all []string
	for _, n := range nodes {
		n.HandleQuery("whoami", nameHandler(n.Local().Name))
		all = append(all, n.Local().Name)
	}
	sort.Strings(all)
	require.NoError(t, fn.SetLoss(0.1))
	r, err := nodes[3].Query(testkit.Context(t, 30*time.Second), "whoami", []byte("?"), QueryParams{RelayFactor: 2, Timeout: 15 * time.Second})
	require.NoError(t, err)
	require.Equal(t, all, r.Expected())
	resps, acks := collect(t, r)
	require.Equal(t, all, acks, "responses from %v", keys(resps))
	require.Len(t, resps, len(all))
	for name, resp := range resps {
		require.NoError(t, resp.Err)
		require.Equal(t, name+":?", string(resp.Payload))
	}
	require.Empty(t, r.Missing())
}

// TestQueryFilters checks node and tag filters, and that a member without
// a handler answers with ErrNoHandler.
func TestQueryFilters(t *testing.T) {
	nodes := startCluster(t, 6, func(i int, cfg *Config) {
		cfg.Tags = map[string]string{"zone": "b"}
		if i < 3 {
			cfg.Tags["zone"] = "a"
		}
	})
	testkit.WaitFor(t, 10*time.Second, func() bool { return allSee(nodes, 6) }, "formed")
	for _, n := range nodes[:5] {
		n.HandleQuery("whoami", nameHandler(n.Local().Name))
	}
	ctx := testkit.Context(t, 20*time.Second)

	r, err := nodes[5].Query(ctx, "whoami", nil, QueryParams{FilterTags: map[string]string{"zone": "a"}, Timeout: 15 * time.Second})
	require.NoError(t, err)
	resps, acks := collect(t, r)
	want := []string{"node-0", "node-1", "node-2"}
	require.Equal(t, want, r.Expected())
	require.Equal(t, want, acks)
	require.Len(t, resps, 3)

	r, err = nodes[0].Query(ctx, "whoami", nil, QueryParams{FilterNodes: []string{"node-4", "node-5"}, Timeout: 15 * time.Second})
	require.NoError(t, err)
	resps, _ = collect(t, r)
	require.Len(t, resps, 2)
	require.NoError(t, resps["node-4"].Err)
	require.ErrorIs(t, resps["node-5"].Err, ErrNoHandler)
	var remote *RemoteError
	require.True(t, errors.As(resps["node-5"].Err, &remote))
	require.Equal(t, "node-5", remote.From)

	_, err = nodes[0].Query(ctx, "whoami", nil, QueryParams{FilterTags: map[string]string{"zone": "("}})
	require.ErrorIs(t, err, ErrInvalidArgument)
	_, err = nodes[0].Query(ctx, "whoami", make([]byte, MaxMessageSize), QueryParams{})
	require.ErrorIs(t, err, ErrTooLarge)
}

// TestQueryTimeoutReportsMissing lets one member's handler outlast the
// timeout: the query ends at its deadline with what arrived, and names the
// member missing.
func TestQueryTimeoutReportsMissing(t *testing.T) {
	nodes := startCluster(t, 4, nil)
	testkit.WaitFor(t, 10*time.Second, func() bool { return allSee(nodes, 4) }, "formed")
	for _, n := range nodes[:3] {
		n.HandleQuery("slow", nameHandler(n.Local().Name))
	}
	nodes[3].HandleQuery("slow", func(ctx context.Context, _ []byte) ([]byte, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	start := time.Now()
	r, err := nodes[0].Query(testkit.Context(t, 20*time.Second), "slow", nil, QueryParams{Timeout: 500 * time.Millisecond})
	require.NoError(t, err)
	resps, acks := collect(t, r)
	require.GreaterOrEqual(t, time.Since(start), 500*time.Millisecond)
	require.Len(t, resps, 3)
	require.Len(t, acks, 4)
	require.Equal(t, []string{"node-3"}, r.Missing())
}

// TestQueryDefaultTimeoutAndClose checks the default timeout and that Close
// ends a query early.
func TestQueryDefaultTimeoutAndClose(t *testing.T) {
	nodes := startCluster(t, 2, nil)
	testkit.WaitFor(t, 10*time.Second, func() bool { return allSee(nodes, 2) }, "formed")
	nodes[1].HandleQuery("block", func(ctx context.Context, _ []byte) ([]byte, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	r, err := nodes[0].Query(context.Background(), "block", nil, QueryParams{FilterNodes: []string{"node-1"}})
	require.NoError(t, err)
	want := nodes[0].Timing().GossipInterval * queryTimeoutMult
	require.WithinDuration(t, time.Now().Add(want), r.Deadline(), want/2)
	r.Close()
	resps, _ := collect(t, r)
	require.Empty(t, resps)
	require.Equal(t, []string{"node-1"}, r.Missing())
}
