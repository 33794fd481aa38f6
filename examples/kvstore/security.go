package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"os"

	"github.com/conclave-go/conclave/consensus"
)

// tlsFiles names the PEM files of one TLS setting.
type tlsFiles struct {
	cert, key, ca string
}

func (f tlsFiles) enabled() bool { return f.cert != "" || f.key != "" || f.ca != "" }

// validate checks that the files are given together and can be read.
// withCA is false for HTTPS, which takes no CA.
func (f tlsFiles) validate(prefix string, withCA bool) error {
	if !f.enabled() {
		return nil
	}
	files := []struct{ flag, path string }{{prefix + "-cert", f.cert}, {prefix + "-key", f.key}}
	if withCA {
		files = append(files, struct{ flag, path string }{prefix + "-ca", f.ca})
	} else if f.ca != "" {
		return usagef("%s-ca is not a flag", prefix)
	}
	for _, file := range files {
		if file.path == "" {
			return usagef("%s is required with the other %s flags", file.flag, prefix)
		}
	}
	for _, file := range files {
		if _, err := os.Stat(file.path); err != nil {
			return usagef("%s: %v", file.flag, err)
		}
	}
	return nil
}

// certificate loads the certificate and key.
func (f tlsFiles) certificate() (tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(f.cert, f.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("loading %s and %s: %w", f.cert, f.key, err)
	}
	return cert, nil
}

// mutualTLS builds the node's mutual TLS: it serves and dials with its
// certificate and trusts only certificates the CA issued. A peer's
// certificate must name the address it is dialled at (its advertised Raft
// host, an IP or a DNS name).
func (f tlsFiles) mutualTLS() (consensus.TLSConfig, error) {
	if !f.enabled() {
		return consensus.TLSConfig{}, nil
	}
	cert, err := f.certificate()
	if err != nil {
		return consensus.TLSConfig{}, err
	}
	pem, err := os.ReadFile(f.ca)
	if err != nil {
		return consensus.TLSConfig{}, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return consensus.TLSConfig{}, fmt.Errorf("%s holds no PEM certificate", f.ca)
	}
	return consensus.TLSConfig{
		Server: &tls.Config{
			MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert},
			ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert,
		},
		Client: &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, RootCAs: pool},
	}, nil
}

// parseGossipKey decodes a base64 gossip key of 16, 24 or 32 bytes.
func parseGossipKey(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, usagef("-gossip-key: not base64: %v", err)
	}
	if n := len(key); n != 16 && n != 24 && n != 32 {
		return nil, usagef("-gossip-key: %d bytes: want 16, 24 or 32 (for example `head -c 32 /dev/urandom | base64`)", n)
	}
	return key, nil
}
