package consensus

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/rpc"
	"github.com/conclave-go/conclave/internal/rpc/rpctest"
	"github.com/conclave-go/conclave/internal/testkit"
)

func mutualTLS(t *testing.T, ca *rpctest.CA) TLSConfig {
	cert := ca.Issue(t, "127.0.0.1")
	srv, cli, err := rpc.MutualTLS(ca.CertPEM, cert.CertPEM, cert.KeyPEM, "")
	require.NoError(t, err)
	return TLSConfig{Server: srv, Client: cli}
}

func TestMutualTLS(t *testing.T) {
	ca := rpctest.NewCA(t)
	c := newCluster(t, 3, func(_ int, cfg *Config) { cfg.TLS = mutualTLS(t, ca) })
	ctx := testkit.Context(t, 30*time.Second)
	f := c.follower()
	c.apply(ctx, f, "set:x=1") // forwarded over TLS, replicated over TLS

	good, err := NewClient(ClientConfig{TLS: mutualTLS(t, ca).Client})
	require.NoError(t, err)
	defer good.Close()
	res, err := good.Query(ctx, c.nodes[f].Addr(), Linearizable, []byte("get:x"))
	require.NoError(t, err)
	require.Equal(t, "1", string(res))

	outsider := rpctest.NewCA(t)
	for name, conf := range map[string]*tls.Config{
		"certificate from another CA": mutualTLS(t, outsider).Client,
		"plaintext":                   nil,
	} {
		t.Run(name, func(t *testing.T) {
			cl, err := NewClient(ClientConfig{TLS: conf})
			require.NoError(t, err)
			defer cl.Close()
			actx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			_, err = cl.Apply(actx, c.nodes[f].Addr(), []byte("set:x=evil"))
			require.Error(t, err)
			_, err = cl.Status(actx, c.nodes[f].Addr())
			require.Error(t, err)
		})
	}
	// A server with another CA's certificate cannot join either: the group
	// never replicates to it.
	fsm := newKV()
	cfg := testConfig(t, "intruder", fsm)
	cfg.TLS = mutualTLS(t, outsider)
	intruder := c.start(cfg)
	defer intruder.Close()
	_, err = intruder.RemoteStatus(ctx, c.nodes[f].Addr())
	require.Error(t, err)

	v, _ := c.fsms[f].get("x")
	require.Equal(t, "1", v)
}
