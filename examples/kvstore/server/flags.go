package server

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
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

	advertise       string // host both advertised addresses default to
	advertiseGossip string
	advertiseRaft   string
	tls             tlsFiles // mutual TLS between nodes
	httpTLS         tlsFiles // HTTPS for the API (no CA: clients are not verified)
	gossipKey       []byte   // from -gossip-key or -gossip-key-file
	clusterLabel    string
	ops             operations // -recover, -recover-self, -restore
	pprof           bool
	h2c             bool // HTTP/2 without TLS for clients that open with its preface
	maxBatchOps     int
	logStore        string       // -log-store
	logStoreFunc    LogStoreFunc // its store; nil for bolt
	logStores       *logStores   // the -log-store values of this build
}

// Limits on the size flags.
const (
	defaultMaxValueSize = 1 << 20
	maxMaxValueSize     = 64 << 20
	defaultMaxKeySize   = 1 << 10
	maxMaxKeySize       = 64 << 10
	defaultMaxBatchOps  = 1000
	maxMaxBatchOps      = 100000
)

// UsageError is a bad command line or KVSTORE_ variable: Run returns it
// before anything starts, and the command exits with status 2.
type UsageError struct{ err error }

// Error says which flag was wrong, why, and what to give instead.
func (e *UsageError) Error() string { return e.err.Error() }

// Unwrap returns the underlying error.
func (e *UsageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &UsageError{fmt.Errorf(format, args...)}
}

// parseFlags parses and validates args; opts add -log-store values.
// Errors are *UsageError, except flag.ErrHelp for -h and a bad option.
func parseFlags(args []string, stderr io.Writer, opts ...Option) (options, error) {
	o := options{logStores: newLogStores(opts)}
	if o.logStores.err != nil {
		return o, o.logStores.err
	}
	var join, profile, logLevel, gossipKey, gossipKeyFile string
	fs := flag.NewFlagSet("kvstore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(fs) }
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
	fs.BoolVar(&o.pprof, "pprof", false, "serve Go's profiles at /debug/pprof/ (they reveal internals: keep the port private)")
	fs.StringVar(&logLevel, "log-level", "warn", "log `level`: debug, info, warn or error")
	fs.StringVar(&o.advertise, "advertise", "", "`host` other nodes reach this one at, for gossip and Raft (required when -gossip or -raft binds a wildcard address)")
	fs.StringVar(&o.advertiseGossip, "advertise-gossip", "", "gossip `host[:port]` other nodes reach this one at (overrides -advertise)")
	fs.StringVar(&o.advertiseRaft, "advertise-raft", "", "Raft and RPC `host[:port]` other servers reach this one at (overrides -advertise)")
	fs.StringVar(&o.tls.cert, "tls-cert", "", "PEM certificate `file` for mutual TLS between nodes (with -tls-key and -tls-ca)")
	fs.StringVar(&o.tls.key, "tls-key", "", "PEM private key `file` for mutual TLS between nodes")
	fs.StringVar(&o.tls.ca, "tls-ca", "", "PEM `file` of the authority that issues every node's certificate")
	fs.StringVar(&gossipKey, "gossip-key", "", "base64 gossip encryption `key` of 16, 24 or 32 bytes, the same on every node")
	fs.StringVar(&gossipKeyFile, "gossip-key-file", "", "`file` holding the base64 gossip key, instead of -gossip-key (keeps it out of the process list)")
	fs.StringVar(&o.clusterLabel, "cluster-label", "", "cluster `label`: nodes with another label ignore this one")
	fs.StringVar(&o.httpTLS.cert, "http-tls-cert", "", "PEM certificate `file` to serve the API over HTTPS (with -http-tls-key)")
	fs.StringVar(&o.httpTLS.key, "http-tls-key", "", "PEM private key `file` for HTTPS")
	fs.BoolVar(&o.h2c, "http-h2c", true, "without -http-tls-*, also serve HTTP/2 to clients that start with its preface (h2c, prior knowledge)")
	fs.IntVar(&o.maxBatchOps, "max-batch-ops", defaultMaxBatchOps, "most operations in one POST /batch request (`N`)")
	fs.StringVar(&o.logStore, "log-store", boltStore, o.logStores.usage())
	o.ops.flags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, &UsageError{err}
	}
	if err := applyEnv(fs, os.LookupEnv); err != nil {
		return o, err
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
	if o.gossipKey, err = gossipKeyFrom(gossipKey, gossipKeyFile); err != nil {
		return o, err
	}
	if o.logStoreFunc, err = o.logStores.lookup(o.logStore); err != nil {
		return o, err
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
	switch {
	case o.bootstrapExpect < 0:
		return usagef("-bootstrap-expect: %d is negative: use 0 to join an existing cluster", o.bootstrapExpect)
	case o.maxValueSize < 1 || o.maxValueSize > maxMaxValueSize:
		return usagef("-max-value-size: %d is outside 1..%d", o.maxValueSize, maxMaxValueSize)
	case o.maxKeySize < 1 || o.maxKeySize > maxMaxKeySize:
		return usagef("-max-key-size: %d is outside 1..%d", o.maxKeySize, maxMaxKeySize)
	case o.maxBatchOps < 1 || o.maxBatchOps > maxMaxBatchOps:
		return usagef("-max-batch-ops: %d is outside 1..%d", o.maxBatchOps, maxMaxBatchOps)
	case o.requestTimeout <= 0:
		return usagef("-request-timeout: %v must be positive", o.requestTimeout)
	case o.snapThreshold < 1:
		return usagef("-snapshot-threshold: must be at least 1")
	case o.snapInterval < 10*time.Millisecond:
		return usagef("-snapshot-interval: %v is below 10ms", o.snapInterval)
	}
	if err := o.validateAdvertise(); err != nil {
		return err
	}
	if err := o.tls.validate("-tls", true); err != nil {
		return err
	}
	if err := o.httpTLS.validate("-http-tls", false); err != nil {
		return err
	}
	if o.tls.enabled() != (o.gossipKey != nil) {
		return usagef("a gossip key (-gossip-key or -gossip-key-file) and the -tls-* flags go together: protect both the gossip and the Raft/RPC port, or neither")
	}
	return o.ops.validate(o)
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

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
