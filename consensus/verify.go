package consensus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"

	"github.com/conclave-go/conclave/internal/rpc"
)

// ErrIdentity is returned by [Node.VerifyServer] when the server at an
// address presents a certificate issued for another name.
var ErrIdentity = errors.New("consensus: server identity not proven")

// VerifyServer checks, when the node runs mutual TLS, that the server at
// addr presents a certificate, issued by the group's authority, for name: a
// DNS name of the certificate or its subject's common name. A leader calls
// it before giving a server discovered by gossip a seat, so that a member
// can claim only the name its certificate proves. Without TLS it returns
// nil at once: nothing can be verified (the node warns of it at start).
func (n *Node) VerifyServer(ctx context.Context, name, addr string) error {
	if !n.cfg.TLS.enabled() {
		return nil
	}
	conn, err := rpc.DialByte(ctx, n.cfg.Network.Dial, addr, byteRPC, n.cfg.TLS.Client)
	if err != nil {
		return fmt.Errorf("%w: %s at %s: %v", ErrIdentity, name, addr, err)
	}
	defer conn.Close()
	tc, ok := conn.(*tls.Conn)
	if !ok {
		return fmt.Errorf("%w: %s at %s: not a TLS connection", ErrIdentity, name, addr)
	}
	certs := tc.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return fmt.Errorf("%w: %s at %s presented no certificate", ErrIdentity, name, addr)
	}
	if !certNames(certs[0], name) {
		return fmt.Errorf("%w: the server at %s claims the name %s but its certificate is for %v",
			ErrIdentity, addr, name, certIdentities(certs[0]))
	}
	return nil
}

// certNames reports whether cert was issued for name.
func certNames(cert *x509.Certificate, name string) bool {
	return cert.Subject.CommonName == name || cert.VerifyHostname(name) == nil
}

func certIdentities(cert *x509.Certificate) []string {
	ids := slices.Clone(cert.DNSNames)
	if cn := cert.Subject.CommonName; cn != "" && !slices.Contains(ids, cn) {
		ids = append([]string{cn}, ids...)
	}
	for _, ip := range cert.IPAddresses {
		ids = append(ids, ip.String())
	}
	return ids
}
