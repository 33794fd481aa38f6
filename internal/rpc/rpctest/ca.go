// Package rpctest makes certificates for tests of TLS connections: an
// in-memory certificate authority issuing ECDSA node certificates, without
// files or external tools.
//
//	ca := rpctest.NewCA(t)
//	node := ca.Issue(t, "node-1", "127.0.0.1")
//	serverConf, clientConf, err := rpc.MutualTLS(ca.CertPEM, node.CertPEM, node.KeyPEM, "node-1")
//
// A second NewCA gives a foreign authority whose certificates the first
// one's peers refuse.
package rpctest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// CA is a certificate authority held in memory.
type CA struct {
	// CertPEM is the authority's certificate, to be trusted by peers.
	CertPEM []byte
	// Cert is the parsed authority certificate.
	Cert *x509.Certificate

	key    *ecdsa.PrivateKey
	serial atomic.Int64
}

// Cert is a certificate issued by a CA, with its key.
type Cert struct {
	// CertPEM is the certificate in PEM form.
	CertPEM []byte
	// KeyPEM is the private key in PEM (PKCS #8) form.
	KeyPEM []byte
}

// NewCA creates a certificate authority valid for a day. It fails t on
// error.
func NewCA(t testing.TB) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "rpctest CA", Organization: []string{"rpctest"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("rpctest: creating CA certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("rpctest: parsing CA certificate: %v", err)
	}
	ca := &CA{CertPEM: pemBlock("CERTIFICATE", der), Cert: cert, key: key}
	ca.serial.Store(1)
	return ca
}

// Issue creates a certificate valid for a day for both server and client
// authentication. Each name becomes a subject alternative name (an IP
// address when it parses as one, a DNS name otherwise); the first is also
// the common name.
func (ca *CA) Issue(t testing.TB, names ...string) *Cert {
	t.Helper()
	now := time.Now()
	return ca.issue(t, now.Add(-time.Hour), now.Add(24*time.Hour), names)
}

// IssueExpired is like Issue but returns a certificate whose validity ended
// an hour ago.
func (ca *CA) IssueExpired(t testing.TB, names ...string) *Cert {
	t.Helper()
	now := time.Now()
	return ca.issue(t, now.Add(-48*time.Hour), now.Add(-time.Hour), names)
}

func (ca *CA) issue(t testing.TB, notBefore, notAfter time.Time, names []string) *Cert {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(ca.serial.Add(1)),
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for i, name := range names {
		if i == 0 {
			tmpl.Subject.CommonName = name
		}
		if ip := net.ParseIP(name); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, name)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatalf("rpctest: issuing certificate: %v", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("rpctest: encoding key: %v", err)
	}
	return &Cert{CertPEM: pemBlock("CERTIFICATE", der), KeyPEM: pemBlock("PRIVATE KEY", keyDER)}
}

// Pool returns a certificate pool holding only this authority.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("rpctest: generating key: %v", err)
	}
	return key
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
