// Command demo runs a Conclave cluster on loopback in one process and
// narrates what it does: gossip membership forming, the Raft group
// bootstrapping, writes from a client node, a linearizable read on a
// follower, the leader killed and the failover, a partition and its heal, and
// a graceful leave. It exits 0 only if every step behaved as claimed.
//
//	go run ./examples/demo [-nodes 5] [-servers 3] [-profile local|lan|fast|wan] [-seed N]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/conclave-go/conclave/cluster"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		var usage usageError
		if errors.As(err, &usage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// options are the demo's flags.
type options struct {
	nodes, servers int
	profile        cluster.Profile
	seed           int64
}

type usageError struct{ error }

func parseFlags(args []string, out io.Writer) (options, error) {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(out)
	nodes := fs.Int("nodes", 5, "number of nodes, servers included (at least 3)")
	servers := fs.Int("servers", 3, "number of servers (at least 3, at most -nodes); the rest are clients")
	profile := fs.String("profile", "local", "timing profile: local, lan, fast or wan")
	seed := fs.Int64("seed", 1, "seed of the fault-injecting network")
	if err := fs.Parse(args); err != nil {
		return options{}, usageError{err}
	}
	o := options{nodes: *nodes, servers: *servers, seed: *seed}
	switch {
	case fs.NArg() > 0:
		return o, usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	case o.servers < 3:
		return o, usageError{fmt.Errorf("-servers is %d: the failover step needs at least 3", o.servers)}
	case o.nodes < o.servers:
		return o, usageError{fmt.Errorf("-nodes is %d: it must be at least -servers (%d)", o.nodes, o.servers)}
	case o.nodes > 64:
		return o, usageError{fmt.Errorf("-nodes is %d: at most 64 on one machine", o.nodes)}
	}
	p, err := cluster.ParseProfile(*profile)
	if err != nil {
		return o, usageError{err}
	}
	o.profile = p
	return o, nil
}

func run(ctx context.Context, args []string, out io.Writer) error {
	o, err := parseFlags(args, out)
	if err != nil {
		return err
	}
	d, err := newDemo(o, out)
	if err != nil {
		return err
	}
	defer d.close()
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"membership", d.formMembership},
		{"bootstrap", d.bootstrap},
		{"client writes", d.clientWrites},
		{"follower read", d.followerRead},
		{"failover", d.failover},
		{"partition", d.partition},
		{"graceful leave", d.leave},
	}
	for _, s := range steps {
		if err := s.fn(ctx); err != nil {
			d.say("FAILED at %s: %v", s.name, err)
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	d.say("every step behaved as described; total %s", d.elapsed())
	return nil
}
