package rpc

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// MutualTLS builds the two sides of mutual TLS from PEM material: caPEM
// holds the certificate authorities trusted for peers, certPEM and keyPEM
// this node's certificate chain and private key (used both to serve and to
// dial, so the certificate should allow server and client authentication).
//
// The server config requires and verifies a client certificate issued by
// the CA. The client config verifies the server's certificate against the CA
// and, when serverName is non-empty, that it names serverName (otherwise
// [DialByte] uses the host of the address it dials). Both use TLS 1.2 or
// newer. The returned configs are fresh; callers may adjust them.
func MutualTLS(caPEM, certPEM, keyPEM []byte, serverName string) (server, client *tls.Config, err error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, nil, errors.New("rpc: MutualTLS: no CA certificate found in caPEM")
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("rpc: MutualTLS: certificate and key: %w", err)
	}
	server = &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}
	client = &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		ServerName:   serverName,
	}
	return server, client, nil
}
