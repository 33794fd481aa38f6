package consensus

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/conclave-go/conclave/internal/errs"
	"github.com/conclave-go/conclave/internal/testkit"
)

func TestConfigValidationNamesTheField(t *testing.T) {
	base := func() Config {
		return Config{Name: "n", BindAddr: "127.0.0.1:0", DataDir: t.TempDir(), StateMachine: newKV()}
	}
	cases := []struct {
		field string
		edit  func(*Config)
	}{
		{"Name", func(c *Config) { c.Name = string(make([]byte, 300)) }},
		{"BindAddr", func(c *Config) { c.BindAddr = "nope" }},
		{"BindAddr", func(c *Config) { c.BindAddr = "127.0.0.1:http" }},
		{"AdvertiseAddr", func(c *Config) { c.AdvertiseAddr = "0.0.0.0:7950" }},
		{"AdvertiseAddr", func(c *Config) { c.AdvertiseAddr = ":7950" }},
		{"AdvertiseAddr", func(c *Config) { c.BindAddr = "0.0.0.0:0" }},
		{"AdvertiseAddr", func(c *Config) { c.BindAddr = ":7950" }},
		{"StateMachine", func(c *Config) { c.StateMachine = nil }},
		{"DataDir", func(c *Config) { c.DataDir = "" }},
		{"DataDir", func(c *Config) { c.InMemory = true }},
		{"Tuning.SnapshotRetain", func(c *Config) { c.Tuning.SnapshotRetain = -1 }},
		{"TLS", func(c *Config) { c.TLS.Server = &tls.Config{} }},
		{"TLS.Server.ClientAuth", func(c *Config) { c.TLS = TLSConfig{Server: &tls.Config{}, Client: &tls.Config{}} }},
		{"Profile", func(c *Config) { c.Profile = 7 }},
		{"Tuning.SnapshotInterval", func(c *Config) { c.Tuning.SnapshotInterval = time.Millisecond }},
		{"Tuning.MaxMessageSize", func(c *Config) { c.Tuning.MaxMessageSize = 10 }},
		{"Tuning.MaxStaleness", func(c *Config) { c.Tuning.MaxStaleness = -1 }},
		{"Tuning.Raft", func(c *Config) { rc := raft.DefaultConfig(); rc.HeartbeatTimeout = 0; c.Tuning.Raft = rc }},
	}
	for _, tc := range cases {
		cfg := base()
		tc.edit(&cfg)
		_, err := New(cfg)
		require.ErrorIs(t, err, ErrInvalidConfig, tc.field)
		require.Equal(t, []string{tc.field}, errs.Fields(err), err.Error())
	}
	cfg := base()
	_, err := New(cfg)
	require.NoError(t, err)

	// Every problem at once.
	_, err = New(Config{BindAddr: "0.0.0.0:7950", Tuning: Tuning{MaxStaleness: -1}})
	require.ElementsMatch(t, []string{"AdvertiseAddr", "StateMachine", "DataDir", "Tuning.MaxStaleness"}, errs.Fields(err), err.Error())
	require.ErrorContains(t, err, `AdvertiseAddr is "": required when BindAddr (0.0.0.0:7950) is not a specific IP address`)

	_, err = NewClient(ClientConfig{MaxMessageSize: 5})
	require.ErrorContains(t, err, "MaxMessageSize")
}

func TestRaftEscapeHatch(t *testing.T) {
	rc := raft.DefaultConfig()
	rc.HeartbeatTimeout = 700 * time.Millisecond
	rc.ElectionTimeout = 700 * time.Millisecond
	rc.ShutdownOnRemove = true
	cfg := testConfig(t, "x", newKV())
	cfg.Tuning.Raft = rc
	got := cfg.raftConfig()
	require.Equal(t, 700*time.Millisecond, got.HeartbeatTimeout)
	require.False(t, got.ShutdownOnRemove, "overridden")
	require.Equal(t, raft.ServerID("x"), got.LocalID)
	require.True(t, rc.ShutdownOnRemove, "the caller's config is not modified")
}

func TestProfilesAreValidRaftConfigs(t *testing.T) {
	var prev time.Duration
	// From the quickest to the most patient.
	for _, p := range []Profile{ProfileFast, ProfileLAN, ProfileWAN} {
		cfg := testConfig(t, "x", newKV())
		cfg.Profile = p
		rc := cfg.withDefaults().raftConfig()
		require.NoError(t, raft.ValidateConfig(rc), p.String())
		require.Greater(t, rc.HeartbeatTimeout, prev, "%v is slower than the profile before it", p)
		prev = rc.HeartbeatTimeout
	}
	require.Equal(t, "fast", ProfileFast.String())
}

func TestLifecycle(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx := context.Background()
	n, err := New(testConfig(t, "solo", newKV()))
	require.NoError(t, err)
	_, err = n.Apply(ctx, nil)
	require.ErrorIs(t, err, ErrNotStarted)
	require.Equal(t, "", n.Addr())

	require.NoError(t, n.Start(ctx))
	require.ErrorIs(t, n.Start(ctx), ErrAlreadyStarted)
	addr := n.Addr()
	has, err := n.HasState()
	require.NoError(t, err)
	require.False(t, has)
	require.Error(t, n.Bootstrap(ctx, []Server{{Name: "other", Addr: "127.0.0.1:1"}}), "the list must include this node")
	require.NoError(t, n.Bootstrap(ctx, []Server{{Name: "solo", Addr: addr}}))
	require.ErrorIs(t, n.Bootstrap(ctx, []Server{{Name: "solo", Addr: addr}}), ErrAlreadyBootstrapped)
	testkit.WaitFor(t, 10*time.Second, func() bool { return n.Status().State == StateLeader }, "single-node leader")
	res, err := n.Apply(ctx, []byte("set:a=1"))
	require.NoError(t, err)
	require.Empty(t, res)
	st := n.Status()
	require.Equal(t, "solo", st.Name)
	require.Equal(t, addr, st.Addr)
	require.True(t, st.HasState)
	require.Equal(t, LeaderInfo{Name: "solo", Addr: addr, Term: st.Term}, st.Leader)

	require.NoError(t, n.Close())
	require.NoError(t, n.Close(), "idempotent")
	_, err = n.Apply(ctx, nil)
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, n.Start(ctx), ErrClosed)
	require.Equal(t, StateShutdown, n.Status().State)

	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err, "the port is free after Close")
	require.NoError(t, ln.Close())
}

func TestCloseWithoutStart(t *testing.T) {
	n, err := New(testConfig(t, "x", newKV()))
	require.NoError(t, err)
	require.NoError(t, n.Close())
}

func TestStartFailureUnwinds(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	first, err := New(testConfig(t, "a", newKV()))
	require.NoError(t, err)
	require.NoError(t, first.Start(context.Background()))
	defer first.Close()
	// Same data dir: bolt's lock is held, so the second start fails and
	// releases its port.
	cfg := testConfig(t, "b", newKV())
	cfg.DataDir = first.cfg.DataDir
	second, err := New(cfg)
	require.NoError(t, err)
	require.Error(t, second.Start(context.Background()))
	require.NoError(t, second.Close())
}

func TestInMemory(t *testing.T) {
	c := newCluster(t, 3, func(_ int, cfg *Config) {
		cfg.DataDir = ""
		cfg.InMemory = true
	})
	ctx := testkit.Context(t, 20*time.Second)
	res, err := c.nodes[c.follower()].Apply(ctx, []byte("set:a=1"))
	require.NoError(t, err)
	require.Empty(t, res)
}

func TestAdvertiseAddr(t *testing.T) {
	bound := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4242}
	for _, tc := range []struct{ configured, want string }{
		{"", "127.0.0.1:4242"},
		{"db1.example", "db1.example:4242"},
		{"db1.example:0", "db1.example:4242"},
		{"10.0.0.1:7000", "10.0.0.1:7000"},
	} {
		got, err := advertise(tc.configured, bound)
		require.NoError(t, err)
		require.Equal(t, tc.want, got)
	}
	_, err := advertise("", &net.TCPAddr{IP: net.IPv4zero, Port: 1})
	require.ErrorContains(t, err, "AdvertiseAddr")
}
