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

// options are the command-line settings of one node.
type options struct {
	name            string
	gossipAddr      string
	raftAddr        string
	join            []string
	bootstrapExpect int
	dataDir         string
	profile         cluster.Profile
	leaveOnExit     bool
	tick            time.Duration
	logLevel        slog.Level
}

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
	fs := flag.NewFlagSet("leader-election", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.name, "name", "", "unique node `name`, stable across restarts (required)")
	fs.StringVar(&o.gossipAddr, "gossip", "127.0.0.1:7946", "gossip `host:port` (UDP and TCP)")
	fs.StringVar(&o.raftAddr, "raft", "127.0.0.1:7950", "Raft and RPC `host:port` (TCP)")
	fs.StringVar(&join, "join", "", "comma-separated gossip `addresses` of other nodes")
	fs.IntVar(&o.bootstrapExpect, "bootstrap-expect", 0, "number of servers that form the cluster (`N`); 0 joins an existing one")
	fs.StringVar(&o.dataDir, "data", "", "data `dir` for the Raft state (required)")
	fs.StringVar(&profile, "profile", "lan", "timing `profile`: local, lan, fast or wan")
	fs.BoolVar(&o.leaveOnExit, "leave-on-exit", false, "leave the cluster on SIGINT/SIGTERM instead of keeping the Raft seat")
	fs.DurationVar(&o.tick, "tick", 200*time.Millisecond, "how often the leader's job prints a tick")
	fs.StringVar(&logLevel, "log-level", "error", "log `level`: debug, info, warn or error (logs go to stderr)")
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
	switch {
	case o.name == "":
		return usagef("-name is required")
	case o.dataDir == "":
		return usagef("-data is required")
	case o.bootstrapExpect < 0:
		return usagef("-bootstrap-expect: %d is negative: use 0 to join an existing cluster", o.bootstrapExpect)
	case o.tick <= 0:
		return usagef("-tick: %v must be positive", o.tick)
	}
	for _, f := range [...]struct{ flag, addr string }{{"-gossip", o.gossipAddr}, {"-raft", o.raftAddr}} {
		if err := checkHostPort(f.addr); err != nil {
			return usagef("%s: %v", f.flag, err)
		}
	}
	for _, a := range o.join {
		if err := checkHostPort(a); err != nil {
			return usagef("-join: %v", err)
		}
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

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
