package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/conclave-go/conclave/cluster"
)

// options are the command-line settings of one kvstore node.
type options struct {
	name            string
	gossipAddr      string
	raftAddr        string
	httpAddr        string
	join            []string
	bootstrapExpect int
	dataDir         string
	profile         cluster.Profile
	leaveOnExit     bool
	maxValueSize    int
	maxKeySize      int
	requestTimeout  time.Duration
	snapThreshold   uint64
	snapInterval    time.Duration
	logLevel        slog.Level
	tlsCA           string // with tlsCert and tlsKey: mutual TLS on the Raft/RPC port
	tlsCert         string
	tlsKey          string
	gossipKeyFile   string // base64 gossip encryption key
}

// Limits on the size flags.
const (
	defaultMaxValueSize = 1 << 20
	maxMaxValueSize     = 64 << 20
	defaultMaxKeySize   = 1 << 10
	maxMaxKeySize       = 64 << 10
)

// usageError is a bad command line: main exits with status 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// parseFlags parses and validates args. Errors are *usageError, except
// flag.ErrHelp for -h.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	var join, profile, logLevel string
	fs := flag.NewFlagSet("kvstore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.name, "name", "", "unique node `name`, stable across restarts (required)")
	fs.StringVar(&o.gossipAddr, "gossip", "127.0.0.1:7946", "gossip `host:port` (UDP and TCP)")
	fs.StringVar(&o.raftAddr, "raft", "127.0.0.1:7950", "Raft and RPC `host:port` (TCP)")
	fs.StringVar(&o.httpAddr, "http", "127.0.0.1:8080", "HTTP API `host:port`")
	fs.StringVar(&join, "join", "", "comma-separated gossip `addresses` of other nodes")
	fs.IntVar(&o.bootstrapExpect, "bootstrap-expect", 0, "number of servers that form the cluster (`N`); 0 joins an existing one")
	fs.StringVar(&o.dataDir, "data", "", "data `dir` for the Raft log and snapshots (required)")
	fs.StringVar(&profile, "profile", "lan", "timing `profile`: local, lan, fast or wan")
	fs.BoolVar(&o.leaveOnExit, "leave-on-exit", false, "leave the cluster on SIGINT/SIGTERM instead of keeping the Raft seat")
	fs.IntVar(&o.maxValueSize, "max-value-size", defaultMaxValueSize, "largest value accepted, in `bytes`")
	fs.IntVar(&o.maxKeySize, "max-key-size", defaultMaxKeySize, "longest key accepted, in `bytes`")
	fs.DurationVar(&o.requestTimeout, "request-timeout", 5*time.Second, "how long a request may wait for a leader")
	fs.Uint64Var(&o.snapThreshold, "snapshot-threshold", 8192, "log entries between snapshots")
	fs.DurationVar(&o.snapInterval, "snapshot-interval", 2*time.Minute, "how often the snapshot threshold is checked")
	fs.StringVar(&logLevel, "log-level", "warn", "log `level`: debug, info, warn or error")
	fs.StringVar(&o.tlsCA, "tls-ca", "", "PEM `file` of the authority that issues the servers' certificates (mutual TLS; with -tls-cert and -tls-key)")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "PEM `file` of this node's certificate, for its -name and its -raft host; reloaded when it changes")
	fs.StringVar(&o.tlsKey, "tls-key", "", "PEM `file` of this node's private key; reloaded when it changes")
	fs.StringVar(&o.gossipKeyFile, "gossip-key-file", "", "`file` holding the base64 gossip encryption key (16, 24 or 32 bytes)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, &usageError{err}
	}
	if fs.NArg() > 0 {
		return o, usagef("unexpected argument %q: all settings are flags", fs.Arg(0))
	}
	o.join = splitList(join)
	var err error
	if o.profile, err = cluster.ParseProfile(profile); err != nil {
		return o, usagef("-profile: %q is not one of local, lan, fast, wan", profile)
	}
	if err := o.logLevel.UnmarshalText([]byte(logLevel)); err != nil {
		return o, usagef("-log-level: %q is not one of debug, info, warn, error", logLevel)
	}
	return o, o.validate()
}

func (o options) validate() error {
	if o.name == "" {
		return usagef("-name is required")
	}
	if o.dataDir == "" {
		return usagef("-data is required")
	}
	for _, f := range [...]struct{ flag, addr string }{
		{"-gossip", o.gossipAddr}, {"-raft", o.raftAddr}, {"-http", o.httpAddr},
	} {
		if err := checkHostPort(f.addr); err != nil {
			return usagef("%s: %v", f.flag, err)
		}
	}
	for _, a := range o.join {
		if err := checkHostPort(a); err != nil {
			return usagef("-join: %v", err)
		}
	}
	if set := btoi(o.tlsCA != "") + btoi(o.tlsCert != "") + btoi(o.tlsKey != ""); set != 0 && set != 3 {
		return usagef("-tls-ca, -tls-cert and -tls-key go together: give all three or none")
	}
	if (o.tlsCA != "") != (o.gossipKeyFile != "") {
		return usagef("-gossip-key-file and the -tls-* flags go together: protect both the gossip and the Raft/RPC port, or neither")
	}
	switch {
	case o.bootstrapExpect < 0:
		return usagef("-bootstrap-expect: %d is negative: use 0 to join an existing cluster", o.bootstrapExpect)
	case o.maxValueSize < 1 || o.maxValueSize > maxMaxValueSize:
		return usagef("-max-value-size: %d is outside 1..%d", o.maxValueSize, maxMaxValueSize)
	case o.maxKeySize < 1 || o.maxKeySize > maxMaxKeySize:
		return usagef("-max-key-size: %d is outside 1..%d", o.maxKeySize, maxMaxKeySize)
	case o.requestTimeout <= 0:
		return usagef("-request-timeout: %v must be positive", o.requestTimeout)
	case o.snapThreshold < 1:
		return usagef("-snapshot-threshold: must be at least 1")
	case o.snapInterval < 10*time.Millisecond:
		return usagef("-snapshot-interval: %v is below 10ms", o.snapInterval)
	}
	return nil
}

// checkHostPort accepts "host:port" with a numeric port; the host may be
// empty (all interfaces).
func checkHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q has a bad port", addr)
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
