package server

import (
	"encoding/base64"
	"os"
	"strings"

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

// mutualTLS builds the node's mutual TLS from the files, which are read
// again when they change (consensus.MutualTLSFiles): a peer's certificate
// must come from the CA and name the peer's node name and the address it
// is dialled at.
func (f tlsFiles) mutualTLS() (consensus.TLSConfig, error) {
	if !f.enabled() {
		return consensus.TLSConfig{}, nil
	}
	return consensus.MutualTLSFiles(f.ca, f.cert, f.key)
}

// gossipKeyFrom decodes the gossip key given inline or in a file; giving
// both is an error.
func gossipKeyFrom(inline, file string) ([]byte, error) {
	if file == "" {
		return parseGossipKey(inline)
	}
	if inline != "" {
		return nil, usagef("-gossip-key and -gossip-key-file exclude each other")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, usagef("-gossip-key-file: %v", err)
	}
	key, err := parseGossipKey(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, usagef("-gossip-key-file %s: %v", file, err)
	}
	return key, nil
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
