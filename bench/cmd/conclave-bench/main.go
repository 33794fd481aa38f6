// Command conclave-bench runs Conclave's performance suite side by side
// with a hand-wired hashicorp/raft baseline and prints Markdown tables.
//
// Run it from the repository root:
//
//	go run ./bench/cmd/conclave-bench                  # every suite
//	go run ./bench/cmd/conclave-bench -suite writes,reads -slice 2s
//
// See docs/PERFORMANCE.md for the suites and the figures.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/conclave-go/conclave/bench"
	"github.com/conclave-go/conclave/cluster"
	"github.com/conclave-go/conclave/membership"
)

var allSuites = []string{"writes", "reads", "tuning", "failover", "leave", "close", "flap", "detect", "pause", "heal", "footprint", "http", "clients"}

// longSuites run only when named: "all" leaves them out.
var longSuites = []string{"scale", "peers"}

type options struct {
	suites        map[string]bool
	slice         time.Duration
	rounds        int
	callers       []int
	sizes         []int
	readCallers   []int
	trials        int
	leaveTrials   int
	closeTrials   int
	gossipTrials  int
	gossipN       []int
	profiles      []string
	gossip        []gossipConfig
	flapFor       time.Duration
	pauseFor      time.Duration
	httpClients   []int
	httpBatches   []int
	httpProtos    bool
	kvstore       string
	kvstoreBefore string
	scale         scaleFlags
	peers         peerFlags
	metrics       time.Duration
	clientNodes   int
	clientCalls   []int
	clientLite    bool
	cpuProfile    string
	verbose       bool
	out           io.Writer
	log           *slog.Logger
}

func main() {
	o, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "conclave-bench:", err)
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "conclave-bench:", err)
		os.Exit(1)
	}
}

func parseFlags() (options, error) {
	var o options
	suites := flag.String("suite", "all", "comma-separated suites: all or "+strings.Join(allSuites, ",")+"; and "+strings.Join(longSuites, ",")+", run only when named")
	flag.DurationVar(&o.slice, "slice", time.Second, "duration of one measurement slice")
	flag.IntVar(&o.rounds, "rounds", 3, "slices per case, interleaved between the compared targets")
	callers := flag.String("callers", "1,16,64,256", "concurrent writers")
	sizes := flag.String("sizes", "64,4096", "command sizes in bytes")
	readCallers := flag.String("read-callers", "1,64", "concurrent readers")
	flag.IntVar(&o.trials, "trials", 20, "failover trials per profile")
	flag.IntVar(&o.leaveTrials, "leave-trials", 5, "graceful leave trials per profile")
	flag.IntVar(&o.closeTrials, "close-trials", 5, "leader Close trials per profile")
	flag.IntVar(&o.gossipTrials, "gossip-trials", 3, "detection and heal trials per cluster size")
	gossipN := flag.String("gossip-n", "3,10,30", "cluster sizes for detection, heal and footprint")
	profiles := flag.String("profiles", "lan,fast,local", "failover configurations: lan, local, fast, wan (the cluster profiles), fastNNN (Local profile with heartbeat, election and lease of NNN ms)")
	gossipNames := flag.String("gossip-configs", "lan,local,memberlist", "membership configurations for detect, pause and heal: lan, local (the profiles), memberlist (memberlist's own LAN settings: detection timing and message compression)")
	flag.DurationVar(&o.flapFor, "flap-duration", time.Minute, "duration of each flapping check")
	flag.DurationVar(&o.pauseFor, "pause-duration", 2*time.Second, "how long the false-failure check holds a node's traffic")
	httpClients := flag.String("http-clients", "1,8,32,128", "closed-loop HTTP clients")
	httpBatches := flag.String("http-batches", "16,128", "operations per POST /batch request in the http suite's batch rows (empty: none)")
	flag.BoolVar(&o.httpProtos, "http-protocols", true, "http suite: also compare HTTP/1.1 with h2c, and PUT with POST /batch, on the kvstore's leader")
	flag.StringVar(&o.kvstore, "kvstore", "", "kvstore binary; empty builds ./examples/kvstore")
	flag.StringVar(&o.kvstoreBefore, "kvstore-before", "", "another kvstore `binary`: the http suite then compares it with -kvstore, each on its own three processes, instead of comparing -kvstore with in-process calls")
	flag.DurationVar(&o.metrics, "metrics", 0, "register every Conclave node's metrics collector and scrape them at this `interval` during the writes and reads suites (0: none)")
	flag.IntVar(&o.clientNodes, "client-nodes", 100, "client nodes of the clients suite (each with its own gossip)")
	clientCalls := flag.String("client-callers", "100,400", "concurrent writers of the clients suite, in total, spread over the nodes")
	flag.BoolVar(&o.clientLite, "client-lite", false, "clients suite: the clients are consensus.Clients routing as client nodes do, without gossip")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this `file`")
	flag.BoolVar(&o.verbose, "v", false, "log the nodes' warnings to stderr")
	scaleN, scaleConfigs := o.scale.register()
	o.peers.register()
	flag.Parse()
	o.suites = map[string]bool{}
	for _, s := range strings.Split(*suites, ",") {
		if s == "all" {
			for _, a := range allSuites {
				o.suites[a] = true
			}
			continue
		}
		if !contains(allSuites, s) && !contains(longSuites, s) {
			return o, fmt.Errorf("unknown suite %q", s)
		}
		o.suites[s] = true
	}
	var err error
	for _, p := range []struct {
		dst *[]int
		s   string
	}{{&o.callers, *callers}, {&o.sizes, *sizes}, {&o.readCallers, *readCallers}, {&o.gossipN, *gossipN}, {&o.httpClients, *httpClients}, {&o.httpBatches, *httpBatches}, {&o.scale.n, *scaleN}, {&o.clientCalls, *clientCalls}} {
		if *p.dst, err = ints(p.s); err != nil {
			return o, err
		}
	}
	o.profiles = strings.Split(*profiles, ",")
	if o.gossip, err = gossipConfigs(strings.Split(*gossipNames, ",")); err != nil {
		return o, err
	}
	if o.scale.configs, err = gossipConfigs(strings.Split(*scaleConfigs, ",")); err != nil {
		return o, err
	}
	if err := o.scale.validate(); err != nil {
		return o, err
	}
	if err := o.peers.validate(); err != nil {
		return o, err
	}
	o.out = os.Stdout
	if o.verbose {
		o.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return o, nil
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func ints(s string) ([]int, error) {
	var out []int
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("bad number %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func run(o options) error {
	dir, err := os.MkdirTemp("", "conclave-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ctx := context.Background()
	machine(o.out)
	steps := []struct {
		name string
		fn   func(context.Context, options, string) error
	}{
		{"writes", throughput}, {"tuning", tuning}, {"failover", failover}, {"leave", leave},
		{"close", closeLeader},
		{"flap", flap}, {"detect", detect}, {"pause", pause}, {"heal", heal},
		{"footprint", footprint}, {"http", httpSuite}, {"scale", scale}, {"clients", clientsSuite}, {"peers", peers},
	}
	for _, s := range steps {
		if !o.suites[s.name] && !(s.name == "writes" && o.suites["reads"]) {
			continue
		}
		t0 := time.Now()
		if err := s.fn(ctx, o, filepath.Join(dir, s.name)); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		fmt.Fprintf(o.out, "\n_%s took %v; load average %s_\n", s.name, time.Since(t0).Round(time.Second), loadavg())
	}
	return nil
}

func machine(w io.Writer) {
	cpu := "unknown"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(line, ":", 2)[1])
				break
			}
		}
	}
	fmt.Fprintf(w, "# conclave-bench\n\n%s; %d CPUs (%s); %s %s/%s; load average %s\n",
		time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), cpu, runtime.Version(), runtime.GOOS, runtime.GOARCH, loadavg())
}

func loadavg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	return strings.Join(f[:3], " ")
}

func throughput(ctx context.Context, o options, dir string) error {
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	env, err := bench.StartEnv(sctx, bench.EnvOptions{Dir: dir})
	cancel()
	if err != nil {
		return err
	}
	defer env.Close()
	if o.metrics > 0 {
		stop, err := scrapeMetrics(env.Con.Nodes, o.metrics)
		if err != nil {
			return err
		}
		defer stop()
		fmt.Fprintf(o.out, "\n_metrics collectors registered for %d nodes, scraped every %v_\n", len(env.Con.Nodes), o.metrics)
	}
	var rows []bench.Row
	if o.suites["writes"] {
		w, err := env.Writes(ctx, o.callers, o.sizes, o.rounds, o.slice)
		if err != nil {
			return err
		}
		rows = append(rows, w...)
	}
	if o.suites["reads"] {
		r, err := env.Reads(ctx, o.readCallers, o.rounds, o.slice)
		if err != nil {
			return err
		}
		rows = append(rows, r...)
	}
	fmt.Fprintf(o.out, "\n## Writes and reads (3 servers, bolt on disk, %d × %v per case)\n\n", o.rounds, o.slice)
	bench.WriteTable(o.out, rows)
	return nil
}

func clientsSuite(ctx context.Context, o options, dir string) error {
	sctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	env, err := bench.StartClientsEnv(sctx, dir, o.clientNodes, o.clientLite)
	cancel()
	if err != nil {
		return err
	}
	defer env.Close()
	idle := env.IdleCPU(3 * time.Second)
	rows, err := env.ClientWrites(ctx, o.clientCalls, o.sizes, o.rounds, o.slice)
	if err != nil {
		return err
	}
	kind := "client nodes"
	if o.clientLite {
		kind = "clients without gossip"
	}
	fmt.Fprintf(o.out, "\n## %d %s and 3 servers, writes (bolt on disk, %d × %v per case)\n\n", o.clientNodes, kind, o.rounds, o.slice)
	fmt.Fprintf(o.out, "_idle, the process uses %.0f%% of a core (gossip, heartbeats)_\n\n", 100*idle)
	bench.WriteTable(o.out, rows)
	return nil
}

func tuning(ctx context.Context, o options, dir string) error {
	rows, err := bench.Tuning(ctx, dir, bench.DefaultVariants(), o.callers, []int{64}, o.rounds, o.slice)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.out, "\n## Storage and Raft settings, leader writes (%d × %v per case)\n\n", o.rounds, o.slice)
	bench.WriteTable(o.out, rows)
	return nil
}

// failoverOptions maps a profile flag to options.
func failoverOptions(name, dir string, o options) (bench.FailoverOptions, error) {
	fo := bench.FailoverOptions{Name: name, Dir: filepath.Join(dir, name), Logger: o.log}
	switch {
	case name == "lan":
		fo.Profile = cluster.ProfileLAN
	case name == "local":
		fo.Profile = cluster.ProfileLocal
	case name == "fast":
		fo.Profile = cluster.ProfileFast
	case name == "wan":
		fo.Profile = cluster.ProfileWAN
	case strings.HasPrefix(name, "fast"):
		ms, err := strconv.Atoi(strings.TrimPrefix(name, "fast"))
		if err != nil || ms < 10 {
			return fo, fmt.Errorf("bad profile %q", name)
		}
		fo.Profile = cluster.ProfileLocal
		fo.Raft = bench.FastRaft(time.Duration(ms) * time.Millisecond)
	default:
		return fo, fmt.Errorf("unknown profile %q", name)
	}
	return fo, nil
}

func failover(ctx context.Context, o options, dir string) error {
	fmt.Fprintf(o.out, "\n## Failover: leader killed, time to the next acknowledged write (writer on a follower)\n\n")
	fmt.Fprintln(o.out, "| profile | trials | p50 | p90 | max |")
	fmt.Fprintln(o.out, "|---|---:|---:|---:|---:|")
	for _, p := range o.profiles {
		fo, err := failoverOptions(p, dir, o)
		if err != nil {
			return err
		}
		fo.Trials = o.trials
		s, err := bench.Failover(ctx, fo)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		fmt.Fprintf(o.out, "| %s | %d | %s | %s | %s |\n", p, len(s), bench.FmtDur(s.Quantile(0.5)), bench.FmtDur(s.Quantile(0.9)), bench.FmtDur(s.Max()))
	}
	return nil
}

func leave(ctx context.Context, o options, dir string) error {
	fmt.Fprintf(o.out, "\n## Graceful leave of the leader: longest write pause (writer on a follower)\n\n")
	fmt.Fprintln(o.out, "| profile | trials | pause p50 | pause max | Leave p50 |")
	fmt.Fprintln(o.out, "|---|---:|---:|---:|---:|")
	for _, p := range o.profiles {
		fo, err := failoverOptions(p, dir, o)
		if err != nil {
			return err
		}
		fo.Trials = o.leaveTrials
		r, err := bench.LeaderLeave(ctx, fo)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		fmt.Fprintf(o.out, "| %s | %d | %s | %s | %s |\n", p, len(r.Pause), bench.FmtDur(r.Pause.Quantile(0.5)), bench.FmtDur(r.Pause.Max()), bench.FmtDur(r.Leave.Quantile(0.5)))
	}
	return nil
}

func closeLeader(ctx context.Context, o options, dir string) error {
	fmt.Fprintf(o.out, "\n## Close of the leader (shutdown without leaving): longest write pause (writer on a follower)\n\n")
	fmt.Fprintln(o.out, "| profile | trials | pause p50 | pause max | Close p50 | Close max |")
	fmt.Fprintln(o.out, "|---|---:|---:|---:|---:|---:|")
	for _, p := range o.profiles {
		fo, err := failoverOptions(p, dir, o)
		if err != nil {
			return err
		}
		fo.Trials = o.closeTrials
		r, err := bench.LeaderClose(ctx, fo)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		fmt.Fprintf(o.out, "| %s | %d | %s | %s | %s | %s |\n", p, len(r.Pause), bench.FmtDur(r.Pause.Quantile(0.5)),
			bench.FmtDur(r.Pause.Max()), bench.FmtDur(r.Close.Quantile(0.5)), bench.FmtDur(r.Close.Max()))
	}
	return nil
}

func flap(ctx context.Context, o options, dir string) error {
	fmt.Fprintf(o.out, "\n## Flapping: leadership changes under 50 ms one-way delay on every link, %v\n\n", o.flapFor)
	fmt.Fprintln(o.out, "| profile | leadership changes |")
	fmt.Fprintln(o.out, "|---|---:|")
	for _, p := range o.profiles {
		fo, err := failoverOptions(p, dir, o)
		if err != nil {
			return err
		}
		n, err := bench.Flapping(ctx, fo, 50*time.Millisecond, o.flapFor)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		fmt.Fprintf(o.out, "| %s | %d |\n", p, n)
	}
	return nil
}

// gossipConfig is a named membership configuration.
type gossipConfig struct {
	name    string
	profile cluster.Profile
	timing  *membership.Timing
	// defaults runs memberlist on its own LAN settings, compression
	// included.
	defaults bool
}

func gossipConfigs(names []string) ([]gossipConfig, error) {
	var out []gossipConfig
	for _, n := range names {
		switch n {
		case "lan":
			out = append(out, gossipConfig{n, cluster.ProfileLAN, nil, false})
		case "local":
			out = append(out, gossipConfig{n, cluster.ProfileLocal, nil, false})
		case "memberlist":
			t := bench.MemberlistLANTiming()
			out = append(out, gossipConfig{n, cluster.ProfileLAN, &t, true})
		default:
			return nil, fmt.Errorf("unknown gossip configuration %q (allowed lan, local, memberlist)", n)
		}
	}
	return out, nil
}

func (g gossipConfig) options(n, trials int, log *slog.Logger) bench.GossipOptions {
	return bench.GossipOptions{N: n, Profile: g.profile, Timing: g.timing, MemberlistDefaults: g.defaults, Trials: trials, Logger: log}
}

func detect(ctx context.Context, o options, _ string) error {
	return gossipTimes(ctx, o, "Failure detection: node killed, until every other node lists it failed (membership only)", bench.Detection)
}

// gossipTimes prints a table of p50 and max of measure for every gossip
// configuration and cluster size.
func gossipTimes(ctx context.Context, o options, title string, measure func(context.Context, bench.GossipOptions) (bench.Samples, error)) error {
	fmt.Fprintf(o.out, "\n## %s\n\n", title)
	fmt.Fprintln(o.out, "| config | N | trials | p50 | max |")
	fmt.Fprintln(o.out, "|---|---:|---:|---:|---:|")
	for _, g := range o.gossip {
		for _, n := range o.gossipN {
			s, err := measure(ctx, g.options(n, o.gossipTrials, o.log))
			if err != nil {
				return fmt.Errorf("%s N=%d: %w", g.name, n, err)
			}
			fmt.Fprintf(o.out, "| %s | %d | %d | %s | %s |\n", g.name, n, len(s), bench.FmtDur(s.Quantile(0.5)), bench.FmtDur(s.Max()))
		}
	}
	return nil
}

func pause(ctx context.Context, o options, _ string) error {
	fmt.Fprintf(o.out, "\n## False failures: one node's traffic held for %v, then 10 s to settle (membership only)\n\n", o.pauseFor)
	fmt.Fprintln(o.out, "| config | N | trials | trials with a failure event for the paused node |")
	fmt.Fprintln(o.out, "|---|---:|---:|---:|")
	for _, g := range o.gossip {
		for _, n := range o.gossipN {
			if n > 10 {
				continue
			}
			bad := 0
			for range o.gossipTrials {
				k, err := bench.PauseFalseFailures(ctx, g.options(n, 1, o.log), o.pauseFor, 10*time.Second)
				if err != nil {
					return err
				}
				if k > 0 {
					bad++
				}
			}
			fmt.Fprintf(o.out, "| %s | %d | %d | %d |\n", g.name, n, o.gossipTrials, bad)
		}
	}
	return nil
}

func heal(ctx context.Context, o options, _ string) error {
	return gossipTimes(ctx, o, "Partition heal: halves that saw each other failed, healed, until every node lists all alive", bench.HealTime)
}

func footprint(ctx context.Context, o options, dir string) error {
	fmt.Fprintf(o.out, "\n## Footprint of idle nodes (LAN profile, after 10 s idle; heap after GC)\n\n")
	fmt.Fprintln(o.out, "| nodes | N | heap per node | goroutines per node |")
	fmt.Fprintln(o.out, "|---|---:|---:|---:|")
	for _, servers := range []int{0, 3} {
		for _, n := range o.gossipN {
			if n < servers {
				continue
			}
			r, err := bench.Footprint(ctx, filepath.Join(dir, fmt.Sprintf("%d-%d", servers, n)), n, servers, 10*time.Second)
			if err != nil {
				return err
			}
			fmt.Fprintf(o.out, "| %s | %d | %.0f KiB | %.1f |\n", r.Kind, r.N, r.HeapBytes/1024, r.Goroutines)
		}
	}
	return nil
}

func httpSuite(ctx context.Context, o options, dir string) error {
	bin, err := kvstoreBinary(o, dir)
	if err != nil {
		return err
	}
	kv, err := bench.StartKVStore(ctx, bin, dir, "lan")
	if err != nil {
		return err
	}
	defer kv.Close()
	if o.kvstoreBefore != "" {
		return httpBeforeAfter(ctx, o, kv, dir)
	}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	con, err := bench.StartConclave(sctx, bench.ConclaveOptions{Dir: filepath.Join(dir, "inproc"), Profile: cluster.ProfileLAN})
	cancel()
	if err != nil {
		return err
	}
	defer con.Close()
	rows, err := bench.HTTPComparison(ctx, kv, con, o.httpClients, o.rounds, o.slice)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.out, "\n## kvstore example over HTTP (3 processes) next to in-process calls (%d × %v per case)\n\n", o.rounds, o.slice)
	bench.WriteTable(o.out, rows)
	return httpProtocols(ctx, o, kv)
}

// httpBeforeAfter compares the -kvstore-before build with kv's, then runs
// the protocol comparison on kv.
func httpBeforeAfter(ctx context.Context, o options, kv *bench.KVStore, dir string) error {
	before, err := bench.StartKVStore(ctx, o.kvstoreBefore, filepath.Join(dir, "before"), "lan")
	if err != nil {
		return err
	}
	defer before.Close()
	rows, err := bench.HTTPBeforeAfter(ctx, before, kv, o.httpClients, o.rounds, o.slice)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.out, "\n## kvstore over HTTP: %s (before) against %s (after), 3 processes each (%d × %v per case)\n\n", o.kvstoreBefore, o.kvstore, o.rounds, o.slice)
	bench.WriteTable(o.out, rows)
	return httpProtocols(ctx, o, kv)
}

// httpProtocols compares HTTP/1.1 with h2c, and PUT with POST /batch, on
// kv's leader, unless -http-protocols=false.
func httpProtocols(ctx context.Context, o options, kv *bench.KVStore) error {
	if !o.httpProtos {
		return nil
	}
	rows, err := bench.HTTPProtocols(ctx, kv, o.httpClients, o.httpBatches, o.rounds, o.slice)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.out, "\n## kvstore leader: HTTP/1.1 and h2c, PUT and POST /batch (%d × %v per case)\n\n", o.rounds, o.slice)
	bench.WriteTable(o.out, rows)
	return nil
}
