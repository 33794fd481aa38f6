package consensus

import (
	"crypto/tls"
	"math/big"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/rpc/rpctest"
	"github.com/conclave-go/conclave/internal/testkit"
)

// callbackTLS returns a mutual TLS config whose certificate comes from a
// callback reading cur: the host rotates it by storing a new pair, as a
// certificate manager (an ACME client, a secrets agent) would.
func callbackTLS(t *testing.T, ca *rpctest.CA, cur *atomic.Pointer[tls.Certificate]) TLSConfig {
	t.Helper()
	base := mutualTLS(t, ca)
	srv, cli := base.Server.Clone(), base.Client.Clone()
	srv.Certificates, cli.Certificates = nil, nil
	srv.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cur.Load(), nil }
	cli.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cur.Load(), nil }
	return TLSConfig{Server: srv, Client: cli}
}

func pairOf(t *testing.T, c *rpctest.Cert) *tls.Certificate {
	t.Helper()
	pair, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM)
	require.NoError(t, err)
	return &pair
}

// Certificates served by callbacks rotate without a restart: under a steady
// flow of writes, every server's new certificate is presented to new
// connections, and no write is lost.
func TestCertificateRotationByCallback(t *testing.T) {
	ca := rpctest.NewCA(t)
	certs := make([]*atomic.Pointer[tls.Certificate], 3)
	for i := range certs {
		certs[i] = new(atomic.Pointer[tls.Certificate])
		certs[i].Store(pairOf(t, ca.Issue(t, "127.0.0.1")))
	}
	c := newCluster(t, 3, func(i int, cfg *Config) { cfg.TLS = callbackTLS(t, ca, certs[i]) })
	ctx := testkit.Context(t, 60*time.Second)

	writes, stop := writeUnderLoad(t, c, ctx, "cb")

	probe := mutualTLS(t, ca).Client
	fresh := make([]*big.Int, len(certs))
	for i := range certs {
		cert := ca.Issue(t, "127.0.0.1")
		fresh[i] = serialOf(t, cert.CertPEM)
		certs[i].Store(pairOf(t, cert))
	}
	for i, nd := range c.nodes {
		s, err := presented(ctx, nd.Addr(), probe)
		require.NoError(t, err)
		require.Zero(t, s.Cmp(fresh[i]), "node %d presents its new certificate at once", i)
	}
	before := writes.Load()
	testkit.WaitFor(t, 20*time.Second, func() bool { return writes.Load() > before+30 }, "writes after the rotation")
	stop()
	// Connections opened after the rotation, between servers, still verify.
	for _, nd := range c.nodes {
		nd.remote.client.CloseAddr(c.nodes[c.leader()].Addr())
	}
	c.apply(ctx, c.follower(), "set:after=1")
}
