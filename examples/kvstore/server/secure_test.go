package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/rpc/rpctest"
	"github.com/conclave-go/conclave/internal/testkit"
)

// secureFiles writes a certificate and key issued by ca for names (by
// default 127.0.0.1), and the CA's certificate, into a fresh directory, and
// returns the flags that use them between nodes (the first six) and for
// HTTPS.
func secureFiles(t *testing.T, ca *rpctest.CA, names ...string) []string {
	dir := t.TempDir()
	if len(names) == 0 {
		names = []string{"127.0.0.1"}
	}
	cert := ca.Issue(t, names...)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o600))
		return p
	}
	c, k, a := write("node.pem", cert.CertPEM), write("node-key.pem", cert.KeyPEM), write("ca.pem", ca.CertPEM)
	return []string{"-tls-cert", c, "-tls-key", k, "-tls-ca", a, "-http-tls-cert", c, "-http-tls-key", k}
}

// secureProc is a node that binds every interface for gossip and Raft and
// advertises 127.0.0.1, with mutual TLS, gossip encryption and HTTPS.
func secureProc(t *testing.T, bin, name string, expect int, tlsFlags []string, key string) *proc {
	_, gport, _ := net.SplitHostPort(testkit.FreeAddr(t))
	_, rport, _ := net.SplitHostPort(testkit.FreeAddr(t))
	p := &proc{
		t: t, name: name, bin: bin, gossip: "127.0.0.1:" + gport, raft: "127.0.0.1:" + rport,
		http: testkit.FreeAddr(t), data: t.TempDir(),
	}
	p.extra = append([]string{
		"-gossip", "0.0.0.0:" + gport, "-raft", "0.0.0.0:" + rport, "-advertise", "127.0.0.1",
		"-bootstrap-expect", fmt.Sprint(expect), "-gossip-key", key, "-cluster-label", "secure-test",
		"-log-level", "info",
	}, tlsFlags...)
	return p
}

// httpsDo sends one request over HTTPS, trusting only ca.
func httpsDo(ctx context.Context, ca *rpctest.CA, method, url string, body []byte) (int, string) {
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true, TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12},
	}}
	status, b, _ := testkit.HTTPDo(ctx, client, method, url, body)
	return status, string(b)
}

// Three nodes bound to every interface, advertising their address, with
// mutual TLS, gossip encryption and HTTPS form a cluster and replicate. A
// node with a certificate from another authority gets no working Raft seat,
// and one with another gossip key never joins gossip; both refusals are in
// the logs.
func TestSecureDeployment(t *testing.T) {
	bin := buildKvstore(t)
	ca := rpctest.NewCA(t)
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	tlsFlags := secureFiles(t, ca, "s1", "s2", "s3", "127.0.0.1")
	procs := make([]*proc, 3)
	var seeds []string
	for i := range procs {
		procs[i] = secureProc(t, bin, fmt.Sprintf("s%d", i+1), 3, tlsFlags, key)
		seeds = append(seeds, procs[i].gossip)
	}
	for _, p := range procs {
		p.join = seeds
	}
	testkit.StartAll(t, procs)
	ctx := testkit.Context(t, 2*time.Minute)
	testkit.WaitFor(t, 60*time.Second, func() bool {
		code, _ := httpsDo(ctx, ca, http.MethodPut, "https://"+procs[0].http+"/kv/secret", []byte("v1"))
		return code == http.StatusNoContent || code == http.StatusOK
	}, "a write over HTTPS")
	testkit.WaitFor(t, 30*time.Second, func() bool {
		code, body := httpsDo(ctx, ca, http.MethodGet, "https://"+procs[2].http+"/kv/secret", nil)
		return code == http.StatusOK && body == "v1"
	}, "the write read back on another node")
	code, _, _ := do(ctx, http.MethodGet, "http://"+procs[0].http+"/readyz", nil)
	require.NotEqual(t, http.StatusOK, code, "plain HTTP is not served when HTTPS is on")

	rogue := secureProc(t, bin, "rogue", 0, secureFiles(t, rpctest.NewCA(t), "rogue", "127.0.0.1"), key)
	rogue.join = seeds
	testkit.StartAll(t, []*proc{rogue})
	testkit.WaitFor(t, 60*time.Second, func() bool {
		return logsContain(procs, "certificate signed by unknown authority")
	}, "a leader's log naming the rogue certificate")
	code, _ = httpsDo(ctx, rpctest.NewCA(t), http.MethodGet, "https://"+rogue.http+"/readyz", nil)
	require.Zero(t, code, "the rogue's HTTPS certificate is not trusted either")

	stranger := secureProc(t, bin, "stranger", 0, tlsFlags, base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)))
	stranger.join = seeds
	testkit.StartAll(t, []*proc{stranger})
	testkit.WaitFor(t, 60*time.Second, func() bool {
		return logsContain([]*proc{stranger}, "no seed answered")
	}, "the stranger's log saying no seed let it in")
	code, body := httpsDo(ctx, ca, http.MethodGet, "https://"+procs[0].http+"/cluster/members", nil)
	require.Equal(t, http.StatusOK, code)
	require.NotContains(t, body, `"stranger"`)
	code, _ = httpsDo(ctx, ca, http.MethodGet, "https://"+stranger.http+"/readyz", nil)
	require.Equal(t, http.StatusServiceUnavailable, code)
}

// logsContain reports whether any stderr of procs contains s.
func logsContain(procs []*proc, s string) bool {
	for _, p := range procs {
		if p.run.StderrContains(s) {
			return true
		}
	}
	return false
}

// The secure setup with the gossip key in a file: mutual TLS on the
// Raft/RPC port from files, and an encrypted gossip layer. A file that does
// not hold a key is refused before anything starts.
func TestRunWithTLSAndGossipKeyFile(t *testing.T) {
	dir := t.TempDir()
	ca := rpctest.NewCA(t)
	cert := ca.Issue(t, "solo", "127.0.0.1")
	files := map[string][]byte{
		"ca.pem": ca.CertPEM, "solo.pem": cert.CertPEM, "solo-key.pem": cert.KeyPEM,
		"gossip.key": []byte(base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")) + "\n"),
		"short.key":  []byte("c2hvcnQ=\n"),
	}
	for name, b := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o600))
	}
	args := []string{
		"-name", "solo", "-gossip", "127.0.0.1:0", "-raft", "127.0.0.1:0", "-http", "127.0.0.1:0",
		"-data", filepath.Join(dir, "data"), "-bootstrap-expect", "1", "-profile", "local",
		"-tls-ca", filepath.Join(dir, "ca.pem"), "-tls-cert", filepath.Join(dir, "solo.pem"),
		"-tls-key", filepath.Join(dir, "solo-key.pem"),
	}
	addr, stop := runInProcess(t, append(args, "-gossip-key-file", filepath.Join(dir, "gossip.key")))
	testkit.WaitFor(t, 30*time.Second, func() bool {
		code, _, _ := do(context.Background(), http.MethodPut, "http://"+addr+"/kv/k", []byte("v"))
		return code == http.StatusNoContent
	}, "a write")
	require.NoError(t, stop())

	_, err := parseFlags(append(args, "-gossip-key-file", filepath.Join(dir, "short.key")), io.Discard)
	require.ErrorContains(t, err, "5 bytes")
	_, err = parseFlags(args, io.Discard)
	require.ErrorContains(t, err, "go together", "TLS without a gossip key")
}
