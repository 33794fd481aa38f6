package cluster

import (
	"testing"
	"time"

	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/internal/testkit"
	"github.com/conclave-go/conclave/membership"
	"github.com/stretchr/testify/require"
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
		{"NodeName", func(c *Config) { c.NodeName = "" }},
		{"Profile", func(c *Config) { c.Profile = 9 }},
		{"Tags", func(c *Config) { c.Tags = map[string]string{"conclave:x": "1"} }},
		{"Consensus.StateMachine", func(c *Config) { c.Consensus.StateMachine = nil }},
		{"Consensus.BootstrapExpect", func(c *Config) { c.Consensus.BootstrapExpect = -1 }},
		{"Consensus.MaxVoters", func(c *Config) { c.Consensus.MaxVoters = -2 }},
		{"Consensus.MinQuorum", func(c *Config) { c.Consensus.MaxVoters, c.Consensus.MinQuorum = 3, 4 }},
		{"Consensus.DeadServerTimeout", func(c *Config) { c.Consensus.DeadServerTimeout = -time.Second }},
		{"Consensus.ReconcileInterval", func(c *Config) { c.Consensus.ReconcileInterval = -time.Second }},
		{"DataDir", func(c *Config) { c.Consensus.DataDir = "" }},
		{"BindAddr", func(c *Config) { c.GossipAddr = "not an address" }},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			cfg := valid()
			tt.edit(&cfg)
			_, err := New(cfg)
			require.ErrorIs(t, err, ErrInvalidConfig)
			require.Contains(t, err.Error(), tt.field)
		})
	}
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
