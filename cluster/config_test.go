package cluster

import (
	"testing"
	"time"

	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/internal/testkit"
	"github.com/conclave-go/conclave/membership"
	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/errs"
)

func TestNewRejectsBadConfig(t *testing.T) {
	valid := func() Config {
		cfg, _ := serverConfig(t, "n", t.TempDir(), 3)
		return cfg
	}
	tests := []struct {
		field string
		edit  func(*Config)
	}{
		{"Name", func(c *Config) { c.Name = "\xff" }},
		{"Profile", func(c *Config) { c.Profile = 9 }},
		{`Tags["conclave:x"]`, func(c *Config) { c.Tags = map[string]string{"conclave:x": "1"} }},
		{"Consensus.StateMachine", func(c *Config) { c.Consensus.StateMachine = nil }},
		{"Consensus.BootstrapExpect", func(c *Config) { c.Consensus.BootstrapExpect = -1 }},
		{"Consensus.MaxVoters", func(c *Config) { c.Consensus.MaxVoters = -2 }},
		{"Consensus.MinQuorum", func(c *Config) { c.Consensus.MaxVoters, c.Consensus.MinQuorum = 3, 4 }},
		{"Tuning.DeadServerTimeout", func(c *Config) { c.Tuning.DeadServerTimeout = -time.Second }},
		{"Tuning.ReconcileInterval", func(c *Config) { c.Tuning.ReconcileInterval = -time.Second }},
		{"Consensus.DataDir", func(c *Config) { c.Consensus.DataDir = "" }},
		{"BindAddr", func(c *Config) { c.BindAddr = "not an address" }},
		{"Seeds[0]", func(c *Config) { c.Seeds = []string{"host:7946:x"} }},
		{"Keys[0]", func(c *Config) { c.Keys, c.AllowMixedSecurity = [][]byte{[]byte("short")}, true }},
		{"Consensus.TLS", func(c *Config) { c.Keys = [][]byte{make([]byte, 16)} }},
		{"Tuning.Membership.ProbeInterval", func(c *Config) { c.Tuning.Membership.ProbeInterval = -time.Second }},
		{"Tuning.Consensus.MaxMessageSize", func(c *Config) { c.Tuning.Consensus.MaxMessageSize = 1 }},
		{"Consensus.AdvertiseAddr", func(c *Config) { c.Consensus.BindAddr = "0.0.0.0:0" }},
		{"Consensus.AdvertiseAddr", func(c *Config) { c.Consensus.BindAddr = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			cfg := valid()
			tt.edit(&cfg)
			_, err := New(cfg)
			require.ErrorIs(t, err, ErrInvalidConfig)
			require.Equal(t, []string{tt.field}, errs.Fields(err), err.Error())
		})
	}
}

// New reports every bad field at once, named as the caller wrote it, from
// whichever layer checked it.
func TestNewReportsEveryBadField(t *testing.T) {
	cfg, _ := serverConfig(t, "n", t.TempDir(), 3)
	cfg.Seeds = []string{"ok:1", "a:1:x"}
	cfg.Consensus.MaxVoters = -1
	cfg.Consensus.BindAddr = "0.0.0.0:7950"
	cfg.Consensus.AdvertiseAddr = ""
	cfg.Tuning.Consensus.MaxStaleness = -time.Second
	_, err := New(cfg)
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.ElementsMatch(t, []string{"Seeds[1]", "Consensus.MaxVoters", "Consensus.AdvertiseAddr", "Tuning.Consensus.MaxStaleness"},
		errs.Fields(err), err.Error())
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	require.NotEmpty(t, ce.Value)
	require.NotEmpty(t, ce.Allowed)
}

// The lifecycle and config errors are one set of values, whichever package
// returned them and whichever package the caller names.
func TestErrorsAreSharedAcrossPackages(t *testing.T) {
	require.Same(t, ErrClosed, consensus.ErrClosed)
	require.Same(t, ErrClosed, membership.ErrClosed)
	require.Same(t, ErrInvalidConfig, consensus.ErrInvalidConfig)
	require.Same(t, ErrInvalidConfig, membership.ErrInvalidConfig)
	require.Same(t, ErrNotStarted, consensus.ErrNotStarted)
	require.Same(t, ErrAlreadyStarted, membership.ErrAlreadyStarted)
	require.Same(t, ErrNoLeader, consensus.ErrNoLeader)

	cfg, _ := serverConfig(t, "n", t.TempDir(), 1)
	n, err := New(cfg)
	require.NoError(t, err)
	require.NoError(t, n.Start(testkit.Context(t, 20*time.Second)))
	require.NoError(t, n.Close())
	_, err = n.Apply(testkit.Context(t, time.Second), []byte("set a b"))
	require.ErrorIs(t, err, consensus.ErrClosed)
	require.ErrorIs(t, err, ErrClosed)
	_, err = n.Consensus().Apply(testkit.Context(t, time.Second), []byte("set a b"))
	require.ErrorIs(t, err, ErrClosed, "consensus's own error matches cluster.ErrClosed")
	require.ErrorIs(t, n.SetTags(nil), membership.ErrClosed)

	_, err = New(Config{Profile: 9})
	require.ErrorIs(t, err, membership.ErrInvalidConfig)
	require.ErrorIs(t, err, consensus.ErrInvalidConfig)
}

func TestNewCopiesConfigAndStartsNothing(t *testing.T) {
	cfg, _ := serverConfig(t, "n", t.TempDir(), 1)
	cfg.Tags = map[string]string{"zone": "a"}
	n, err := New(cfg)
	require.NoError(t, err)
	cfg.Tags["zone"] = "changed"
	require.Equal(t, "a", n.cfg.Tags["zone"])
	require.Nil(t, n.Members(), "nothing runs before Start")
	_, err = n.Apply(testkit.Context(t, time.Second), []byte("set a b"))
	require.ErrorIs(t, err, ErrNotStarted)
	require.NoError(t, n.Close())
	require.ErrorIs(t, n.Start(testkit.Context(t, time.Second)), ErrClosed)
	require.NoError(t, n.Close(), "Close is idempotent")
}

func TestParseProfile(t *testing.T) {
	for _, p := range []Profile{ProfileLAN, ProfileLocal, ProfileWAN, ProfileFast} {
		got, err := ParseProfile(p.String())
		require.NoError(t, err)
		require.Equal(t, p, got)
	}
	_, err := ParseProfile("moon")
	require.ErrorContains(t, err, "allowed lan, local, wan, fast")
}

func TestProfileFastUsesLANGossip(t *testing.T) {
	require.Equal(t, membership.LAN, ProfileFast.membership())
	require.Equal(t, consensus.ProfileFast, ProfileFast.consensus())
	for _, p := range []Profile{ProfileLAN, ProfileLocal, ProfileWAN} {
		require.Equal(t, p.String(), p.membership().String())
		require.Equal(t, p.String(), p.consensus().String())
	}
}
