package consensus

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// tlsReloadInterval is the least time between two checks of the files.
const tlsReloadInterval = time.Second

// MutualTLSFiles returns a [TLSConfig] for mutual TLS read from PEM files:
// caFile the authorities trusted for peers, certFile and keyFile this
// server's certificate chain and key (used to serve and to dial, so the
// certificate should allow both server and client authentication and name
// the server's address, and its Name for [Node.VerifyServer]).
//
// The files are read again when they change (checked at most once a second,
// at a TLS handshake), so a certificate, key or authority can be rotated
// without a restart: new connections use the new files, established ones
// keep theirs until they end. Replace each file atomically (write a
// temporary file, rename it over the old one). A change that does not load
// (a key that does not match its certificate, a half-written file) is
// ignored until the files change again, and the old material stays in use.
// To rotate the authority, first distribute a caFile holding the old and
// the new authority to every server, then the certificates from the new
// one, then a caFile with the new one only.
func MutualTLSFiles(caFile, certFile, keyFile string) (TLSConfig, error) {
	f := &tlsFiles{ca: caFile, cert: certFile, key: keyFile}
	if err := f.load(); err != nil {
		return TLSConfig{}, err
	}
	server := &tls.Config{
		MinVersion: tls.VersionTLS12,
		ClientAuth: tls.RequireAndVerifyClientCert,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			m := f.current()
			return &tls.Config{
				MinVersion:   tls.VersionTLS12,
				Certificates: []tls.Certificate{m.pair},
				ClientCAs:    m.pool,
				ClientAuth:   tls.RequireAndVerifyClientCert,
			}, nil
		},
	}
	client := &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			m := f.current()
			return &m.pair, nil
		},
		// The authority can change, and a tls.Config's RootCAs cannot: the
		// standard verification is replaced by the same one against the
		// current pool, with the dialled host as the name to verify.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyServerChain(cs, f.current().pool)
		},
	}
	return TLSConfig{Server: server, Client: client}, nil
}

// verifyServerChain verifies the server's chain against pool and its name
// against the name the client dialled.
func verifyServerChain(cs tls.ConnectionState, pool *x509.CertPool) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("consensus: the server presented no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		Roots:         pool,
		Intermediates: inter,
		DNSName:       cs.ServerName,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return err
}

// tlsFiles holds the material read from the files and reloads it.
type tlsFiles struct {
	ca, cert, key string

	mu      sync.Mutex // guards the fields below
	checked time.Time
	stamps  [3]fileStamp
	mat     tlsMaterial
}

type tlsMaterial struct {
	pair tls.Certificate
	pool *x509.CertPool
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// current returns the material, reloading it first when a file changed.
func (f *tlsFiles) current() tlsMaterial {
	f.mu.Lock()
	defer f.mu.Unlock()
	if time.Since(f.checked) >= tlsReloadInterval {
		f.checked = time.Now()
		if st, err := f.stat(); err == nil && st != f.stamps {
			_ = f.loadLocked() // on failure the old material stays; retried when the files change again
		}
	}
	return f.mat
}

func (f *tlsFiles) load() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checked = time.Now()
	return f.loadLocked()
}

func (f *tlsFiles) loadLocked() error {
	st, err := f.stat()
	if err != nil {
		return err
	}
	f.stamps = st // a bad change is not retried until the files change again
	caPEM, err := os.ReadFile(f.ca)
	if err != nil {
		return fmt.Errorf("consensus: TLS authority: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("consensus: TLS authority: no certificate in %s", f.ca)
	}
	pair, err := tls.LoadX509KeyPair(f.cert, f.key)
	if err != nil {
		return fmt.Errorf("consensus: TLS certificate %s and key %s: %w", f.cert, f.key, err)
	}
	f.mat = tlsMaterial{pair: pair, pool: pool}
	return nil
}

func (f *tlsFiles) stat() ([3]fileStamp, error) {
	var out [3]fileStamp
	for i, p := range []string{f.ca, f.cert, f.key} {
		fi, err := os.Stat(p)
		if err != nil {
			return out, fmt.Errorf("consensus: TLS file: %w", err)
		}
		out[i] = fileStamp{mod: fi.ModTime(), size: fi.Size()}
	}
	return out, nil
}
