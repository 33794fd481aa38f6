package consensus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/rpc"
	"github.com/conclave-go/conclave/internal/rpc/rpctest"
	"github.com/conclave-go/conclave/internal/testkit"
)

// writeAtomic replaces path with b the way an operator should: a temporary
// file renamed over it.
func writeAtomic(t *testing.T, path string, b []byte) {
	t.Helper()
	tmp := path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, b, 0o600))
	require.NoError(t, os.Rename(tmp, path))
}

// tlsDir writes the authority and a certificate for names into a new
// directory and returns it.
func tlsDir(t *testing.T, ca *rpctest.CA, names ...string) string {
	dir := t.TempDir()
	cert := ca.Issue(t, names...)
	writeAtomic(t, filepath.Join(dir, "ca.pem"), ca.CertPEM)
	writeAtomic(t, filepath.Join(dir, "cert.pem"), cert.CertPEM)
	writeAtomic(t, filepath.Join(dir, "key.pem"), cert.KeyPEM)
	return dir
}

func filesTLS(t *testing.T, dir string) TLSConfig {
	t.Helper()
	conf, err := MutualTLSFiles(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	require.NoError(t, err)
	return conf
}

func serialOf(t *testing.T, certPEM []byte) *big.Int {
	t.Helper()
	b, _ := pem.Decode(certPEM)
	c, err := x509.ParseCertificate(b.Bytes)
	require.NoError(t, err)
	return c.SerialNumber
}

// presented returns the serial of the certificate addr presents to a new
// connection.
func presented(ctx context.Context, addr string, client *tls.Config) (*big.Int, error) {
	conn, err := rpc.DialByte(ctx, nil, addr, byteRPC, client)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber, nil
}

// writeUnderLoad writes through every node (to the leader, and forwarded by
// the followers) until stop, which fails the test if a write failed with
// anything but an unknown outcome. writes counts those done.
func writeUnderLoad(t *testing.T, c *testCluster, ctx context.Context, prefix string) (writes *atomic.Int64, stop func()) {
	t.Helper()
	writes = new(atomic.Int64)
	var wg sync.WaitGroup
	done := make(chan struct{})
	errc := make(chan error, len(c.nodes))
	for i := range c.nodes {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-done:
					return
				default:
				}
				_, err := c.nodes[i].Apply(ctx, fmt.Appendf(nil, "set:%s%d-%d=x", prefix, i, n))
				if err != nil && !errors.Is(err, ErrOutcomeUnknown) {
					errc <- fmt.Errorf("node %d write %d: %w", i, n, err)
					return
				}
				writes.Add(1)
			}
		})
	}
	return writes, func() {
		t.Helper()
		close(done)
		wg.Wait()
		close(errc)
		for err := range errc {
			require.NoError(t, err)
		}
	}
}

// Rotating every server's certificate and key on disk, under a steady flow
// of writes, loses no write; new connections present the new certificates.
func TestCertificateRotationUnderLoad(t *testing.T) {
	ca := rpctest.NewCA(t)
	dirs := make([]string, 3)
	for i := range dirs {
		dirs[i] = tlsDir(t, ca, fmt.Sprintf("n%d", i), "127.0.0.1")
	}
	c := newCluster(t, 3, func(i int, cfg *Config) { cfg.TLS = filesTLS(t, dirs[i]) })
	ctx := testkit.Context(t, 60*time.Second)

	writes, stop := writeUnderLoad(t, c, ctx, "w")

	probe := filesTLS(t, tlsDir(t, ca, "probe", "127.0.0.1")).Client
	fresh := make([]*big.Int, len(dirs))
	for i, dir := range dirs {
		cert := ca.Issue(t, fmt.Sprintf("n%d", i), "127.0.0.1")
		fresh[i] = serialOf(t, cert.CertPEM)
		writeAtomic(t, filepath.Join(dir, "cert.pem"), cert.CertPEM)
		writeAtomic(t, filepath.Join(dir, "key.pem"), cert.KeyPEM)
	}
	for i, nd := range c.nodes {
		testkit.WaitFor(t, 20*time.Second, func() bool {
			s, err := presented(ctx, nd.Addr(), probe)
			return err == nil && s.Cmp(fresh[i]) == 0
		}, "node %d presents its new certificate", i)
	}
	before := writes.Load()
	testkit.WaitFor(t, 20*time.Second, func() bool { return writes.Load() > before+30 }, "writes after the rotation")
	stop()

	// A new connection between servers uses the new certificates.
	l := c.leader()
	require.NoError(t, c.nodes[l].VerifyServer(ctx, c.cfgs[(l+1)%3].Name, c.nodes[(l+1)%3].Addr()))
}

func TestMutualTLSFilesKeepsOldMaterialOnABadChange(t *testing.T) {
	ca := rpctest.NewCA(t)
	dir := tlsDir(t, ca, "n0", "127.0.0.1")
	f := &tlsFiles{ca: filepath.Join(dir, "ca.pem"), cert: filepath.Join(dir, "cert.pem"), key: filepath.Join(dir, "key.pem")}
	require.NoError(t, f.load())
	leaf := func() []byte { return f.current().pair.Certificate[0] }
	first := leaf()

	writeAtomic(t, f.key, ca.Issue(t, "other").KeyPEM) // does not match cert.pem
	f.checked = time.Time{}                            // the next handshake checks the files
	require.Equal(t, first, leaf(), "a bad change leaves the old material in use")

	next := ca.Issue(t, "n0", "127.0.0.1")
	writeAtomic(t, f.cert, next.CertPEM)
	writeAtomic(t, f.key, next.KeyPEM)
	f.checked = time.Time{}
	require.NotEqual(t, first, leaf(), "a good change is taken")

	_, err := MutualTLSFiles(f.ca, f.cert, filepath.Join(dir, "nope.pem"))
	require.ErrorContains(t, err, "nope.pem")
}

// The reloading client verifies the server's name as the standard one does:
// a certificate from the authority that does not name the dialled address
// is refused.
func TestMutualTLSFilesVerifiesTheServerName(t *testing.T) {
	ca := rpctest.NewCA(t)
	srv := filesTLS(t, tlsDir(t, ca, "n9")) // no 127.0.0.1
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = tls.Server(c, srv.Server).Handshake()
	}()
	cli := filesTLS(t, tlsDir(t, ca, "probe", "127.0.0.1")).Client
	_, err = presented(testkit.Context(t, 10*time.Second), ln.Addr().String(), cli)
	require.ErrorContains(t, err, "127.0.0.1")
	<-done
}
