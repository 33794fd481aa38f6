package rpctest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func parse(t *testing.T, c *Cert) *x509.Certificate {
	block, _ := pem.Decode(c.CertPEM)
	require.NotNil(t, block)
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	_, err = tls.X509KeyPair(c.CertPEM, c.KeyPEM)
	require.NoError(t, err, "certificate and key match")
	return cert
}

func TestIssuedCertificatesVerify(t *testing.T) {
	ca, other := NewCA(t), NewCA(t)
	node := parse(t, ca.Issue(t, "node-1", "127.0.0.1"))
	require.Equal(t, "node-1", node.Subject.CommonName)
	require.Equal(t, []string{"node-1"}, node.DNSNames)
	require.Len(t, node.IPAddresses, 1)

	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		_, err := node.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "node-1", KeyUsages: []x509.ExtKeyUsage{usage}})
		require.NoError(t, err)
	}
	_, err := node.Verify(x509.VerifyOptions{Roots: other.Pool()})
	require.Error(t, err, "another CA does not vouch for it")

	expired := parse(t, ca.IssueExpired(t, "node-2"))
	_, err = expired.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: time.Now()})
	require.Error(t, err)
}
