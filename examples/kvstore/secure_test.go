package main

import (
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/rpc/rpctest"
	"github.com/conclave-go/conclave/internal/testkit"
)

// The secure setup of the README: mutual TLS on the Raft/RPC port from
// files, and an encrypted gossip layer.
func TestRunWithTLSAndGossipKey(t *testing.T) {
	dir := t.TempDir()
	ca := rpctest.NewCA(t)
	cert := ca.Issue(t, "solo", "127.0.0.1")
	files := map[string][]byte{
		"ca.pem": ca.CertPEM, "solo.pem": cert.CertPEM, "solo-key.pem": cert.KeyPEM,
		"gossip.key": []byte(base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")) + "\n"),
	}
	for name, b := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o600))
	}
	addr, stop := runInProcess(t,
		"-name", "solo", "-gossip", "127.0.0.1:0", "-raft", "127.0.0.1:0", "-http", "127.0.0.1:0",
		"-data", filepath.Join(dir, "data"), "-bootstrap-expect", "1", "-profile", "local",
		"-tls-ca", filepath.Join(dir, "ca.pem"), "-tls-cert", filepath.Join(dir, "solo.pem"),
		"-tls-key", filepath.Join(dir, "solo-key.pem"), "-gossip-key-file", filepath.Join(dir, "gossip.key"))
	testkit.WaitFor(t, 30*time.Second, func() bool {
		code, _, _ := do(context.Background(), http.MethodPut, "http://"+addr+"/kv/k", []byte("v"))
		return code == http.StatusNoContent
	}, "a write")
	require.NoError(t, stop())

	require.NoError(t, os.WriteFile(filepath.Join(dir, "gossip.key"), []byte("short"), 0o600))
	_, _, err := security(options{tlsCA: filepath.Join(dir, "ca.pem"), tlsCert: filepath.Join(dir, "solo.pem"),
		tlsKey: filepath.Join(dir, "solo-key.pem"), gossipKeyFile: filepath.Join(dir, "gossip.key")})
	require.ErrorContains(t, err, "base64 key of 16, 24 or 32 bytes")
}
