package cluster

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/internal/rpc"
	"github.com/conclave-go/conclave/internal/rpc/rpctest"
	"github.com/conclave-go/conclave/internal/testkit"
)

// secured gives a server config mutual TLS with a certificate for names
// (the first is its common name) and the group's gossip key.
func secured(t *testing.T, ca *rpctest.CA, c *Config, names ...string) {
	cert := ca.Issue(t, names...)
	srv, cli, err := rpc.MutualTLS(ca.CertPEM, cert.CertPEM, cert.KeyPEM, "")
	require.NoError(t, err)
	c.Consensus.TLS = consensus.TLSConfig{Server: srv, Client: cli}
	c.Keys = [][]byte{[]byte("0123456789abcdef")}
}

// Under mutual TLS a member that announces the server role gets a Raft seat
// only for the name its certificate proves: one with a valid certificate
// for another name is never added, while a genuine one is.
func TestImpostorServerGetsNoSeat(t *testing.T) {
	ca := rpctest.NewCA(t)
	nodes := startServers(t, 2, func(c *Config) { secured(t, ca, c, c.Name, "127.0.0.1") })
	lead := leaderOf(t, nodes)
	seed := nodes[0].Local().Address()

	impostorCfg, _ := serverConfig(t, "s2", t.TempDir(), 0, seed)
	secured(t, ca, &impostorCfg, "c9", "127.0.0.1") // a valid certificate, for another member
	startNode(t, impostorCfg)
	genuineCfg, _ := serverConfig(t, "s3", t.TempDir(), 0, seed)
	secured(t, ca, &genuineCfg, "s3", "127.0.0.1")
	startNode(t, genuineCfg)

	testkit.WaitFor(t, 30*time.Second, func() bool {
		_, in := configOf(t, lead)["s3"]
		return in
	}, "the genuine server is added")
	// The leader plans both additions in the same rounds; the genuine one is
	// in, so the impostor has been considered and refused.
	testkit.WaitFor(t, 10*time.Second, func() bool {
		h, err := lead.Health(testkit.Context(t, 5*time.Second))
		return err == nil && len(h.Servers) == 3
	}, "health lists the three servers")
	require.NotContains(t, configOf(t, lead), "s2")
	_, err := lead.Apply(testkit.Context(t, 10*time.Second), []byte("set a 1"))
	require.NoError(t, err)
	require.NotContains(t, configOf(t, lead), "s2")
}

func TestMixedSecurityIsRefused(t *testing.T) {
	ca := rpctest.NewCA(t)
	cfg, _ := serverConfig(t, "s0", t.TempDir(), 1)
	secured(t, ca, &cfg, "s0")
	cfg.Keys = nil // TLS on, gossip in plaintext
	_, err := New(cfg)
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.ErrorContains(t, err, "AllowMixedSecurity")

	cfg.AllowMixedSecurity = true
	_, err = New(cfg)
	require.NoError(t, err, "told explicitly")
}
