package server

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/netlab"
	"github.com/conclave-go/conclave/internal/rpc/rpctest"
	"github.com/conclave-go/conclave/internal/testkit"
)

// The netlab tier runs each kvstore process in its own network namespace on
// its own address, binding every interface and advertising that address,
// and injects faults through the real network: kills, pauses, partitions,
// one-way cuts, packet loss and a restart on a new address. Every run
// records an HTTP history, checked for linearizability, and ends by
// restarting every node and reading every key back.
//
// By default one short run (3 nodes, mutual TLS and gossip encryption on)
// exercises every fault kind. CONCLAVE_NETLAB=DURATION runs 3 and 5 nodes,
// each with TLS on and off, for that long each.
func TestNetlab(t *testing.T) {
	netlab.Require(t)
	type run struct {
		nodes int
		tls   bool
	}
	runs, d := []run{{3, true}}, 25*time.Second
	if v := os.Getenv("CONCLAVE_NETLAB"); v != "" {
		var err error
		d, err = time.ParseDuration(v)
		require.NoError(t, err, "CONCLAVE_NETLAB is a duration, such as 5m")
		runs = []run{{3, false}, {3, true}, {5, false}, {5, true}}
	}
	bin := buildKvstore(t)
	for _, r := range runs {
		t.Run(fmt.Sprintf("nodes=%d/tls=%v", r.nodes, r.tls), func(t *testing.T) {
			nl := newNetlabCluster(t, bin, r.nodes, r.tls)
			seed := rand.Uint64()
			t.Logf("seed %d, faults for %v", seed, d)
			faults := nl.runFaults(t, rand.New(rand.NewPCG(seed, seed)), d)
			ok, unknown := nl.hist.counts()
			t.Logf("nodes=%d tls=%v: %d operations acknowledged, %d of unknown outcome, %d faults: %s",
				r.nodes, r.tls, ok, unknown, len(faults), strings.Join(faults, ", "))
			nl.restartAll(t)
			nl.readBack(t)
			require.NoError(t, nl.hist.check(), "the history is linearizable")
		})
	}
}

// netlabCluster is a kvstore cluster on a lab, a workload against it and
// its history.
type netlabCluster struct {
	lab   *netlab.Lab
	procs []*proc
	tls   []string
	key   string
	ca    *rpctest.CA
	hist  *httpHistory

	stop    chan struct{}
	workers sync.WaitGroup
}

func newNetlabCluster(t *testing.T, bin string, n int, withTLS bool) *netlabCluster {
	nl := &netlabCluster{lab: netlab.New(t, n), hist: newHTTPHistory(), stop: make(chan struct{})}
	if withTLS {
		nl.ca = rpctest.NewCA(t)
		nl.tls = labCertFlags(t, nl.ca, nl.lab)
		nl.key = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc="
	}
	var seeds []string
	for i := range n {
		seeds = append(seeds, nl.lab.Host(i).IP().String()+":7946")
	}
	for i := range n {
		p := &proc{t: t, name: fmt.Sprintf("h%d", i), bin: bin, data: t.TempDir(), join: seeds}
		p.command = nl.lab.Host(i).Command
		nl.setAddr(p, i, n)
		nl.procs = append(nl.procs, p)
	}
	testkit.StartAll(t, nl.procs)
	waitReady(t, nl.procs...)
	nl.startWorkload(t)
	t.Cleanup(nl.stopWorkload)
	return nl
}

// setAddr points p at host i's current address: it binds every interface
// and advertises that address.
func (nl *netlabCluster) setAddr(p *proc, i, expect int) {
	ip := nl.lab.Host(i).IP().String()
	p.gossip, p.raft, p.http = ip+":7946", ip+":7950", ip+":8080"
	p.extra = append([]string{
		"-gossip", "0.0.0.0:7946", "-raft", "0.0.0.0:7950", "-http", "0.0.0.0:8080", "-advertise", ip,
		"-bootstrap-expect", strconv.Itoa(expect), "-profile", "local", "-log-level", "info",
		"-snapshot-threshold", "64", "-snapshot-interval", "200ms",
	}, nl.tls...)
	if nl.key != "" {
		p.extra = append(p.extra, "-gossip-key", nl.key)
	}
}

// labCertFlags issues one certificate naming every address the lab may
// give its hosts, and returns the mutual TLS flags that use it.
func labCertFlags(t *testing.T, ca *rpctest.CA, lab *netlab.Lab) []string {
	gw := lab.Gateway().As4()
	names := make([]string, 0, lab.Len()+253)
	for i := range lab.Len() {
		names = append(names, fmt.Sprintf("h%d", i)) // the node names
	}
	for last := 2; last < 255; last++ {
		names = append(names, netip.AddrFrom4([4]byte{gw[0], gw[1], gw[2], byte(last)}).String())
	}
	flags := secureFiles(t, ca, names...)
	return flags[:6] // between nodes only: the workload speaks plain HTTP
}

// startWorkload runs clients that write and read a few keys through random
// nodes until stopWorkload.
func (nl *netlabCluster) startWorkload(t *testing.T) {
	for c := range 4 {
		nl.workers.Add(1)
		go func() {
			defer nl.workers.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			for seq := 0; ; seq++ {
				select {
				case <-nl.stop:
					return
				default:
				}
				// The host's address, not the proc's: readdress changes it.
				addr := nl.lab.Host(rng.IntN(len(nl.procs))).IP().String() + ":8080"
				key := fmt.Sprintf("k%d", rng.IntN(5))
				if rng.IntN(2) == 0 {
					nl.hist.put(addr, key, fmt.Sprintf("c%d-%d", c, seq))
				} else {
					nl.hist.get(addr, key)
				}
			}
		}()
	}
}

func (nl *netlabCluster) stopWorkload() {
	select {
	case <-nl.stop:
	default:
		close(nl.stop)
	}
	nl.workers.Wait()
}

// runFaults injects one fault at a time, each on one node, for about d,
// and returns their names.
func (nl *netlabCluster) runFaults(t *testing.T, rng *rand.Rand, d time.Duration) []string {
	kinds := []func(*testing.T, int) string{nl.kill, nl.pause, nl.isolate, nl.cut, nl.loss, nl.readdress}
	var done []string
	deadline := time.Now().Add(d)
	for i := 0; i == 0 || time.Now().Before(deadline) || i < len(kinds); i++ {
		kind := kinds[i%len(kinds)]
		if i >= len(kinds) {
			kind = kinds[rng.IntN(len(kinds))]
		}
		victim := rng.IntN(len(nl.procs))
		done = append(done, kind(t, victim))
		nl.lab.Heal()
		waitReady(t, nl.procs...)
	}
	nl.stopWorkload()
	return done
}

// hold lets a fault last while the workload runs.
func hold(d time.Duration) { <-time.After(d) }

func (nl *netlabCluster) kill(t *testing.T, i int) string {
	nl.procs[i].Kill()
	hold(2 * time.Second)
	require.NoError(t, nl.procs[i].startOnce())
	return "kill " + nl.procs[i].name
}

func (nl *netlabCluster) pause(t *testing.T, i int) string {
	p := nl.procs[i]
	process := p.run.Process()
	require.NoError(t, process.Signal(syscall.SIGSTOP))
	hold(3 * time.Second)
	require.NoError(t, process.Signal(syscall.SIGCONT))
	return "pause " + p.name
}

func (nl *netlabCluster) isolate(_ *testing.T, i int) string {
	var rest []int
	for j := range nl.procs {
		if j != i {
			rest = append(rest, j)
		}
	}
	nl.lab.Partition([]int{i}, rest)
	hold(4 * time.Second)
	return "isolate " + nl.procs[i].name
}

func (nl *netlabCluster) cut(_ *testing.T, i int) string {
	to := (i + 1) % len(nl.procs)
	nl.lab.Cut(i, to)
	hold(4 * time.Second)
	return fmt.Sprintf("cut %s->%s", nl.procs[i].name, nl.procs[to].name)
}

func (nl *netlabCluster) loss(_ *testing.T, i int) string {
	nl.lab.Loss(i, 0.2)
	hold(4 * time.Second)
	return "loss 20% " + nl.procs[i].name
}

// readdress restarts a node on its data dir at a new address; the leader
// updates its Raft address in place.
func (nl *netlabCluster) readdress(t *testing.T, i int) string {
	p := nl.procs[i]
	p.Kill()
	old := nl.lab.Host(i).IP()
	nl.lab.Host(i).Readdress()
	nl.setAddr(p, i, len(nl.procs))
	require.NoError(t, p.startOnce())
	testkit.WaitFor(t, 60*time.Second, func() bool { return nl.seatAt(p.name, p.raft) },
		"%s a voter at its new address %s", p.name, p.raft)
	return fmt.Sprintf("readdress %s %v->%v", p.name, old, nl.lab.Host(i).IP())
}

// seatAt reports whether some node's view of the Raft configuration
// (the admin handler's /cluster/raft) shows server name as a voter at addr.
func (nl *netlabCluster) seatAt(name, addr string) bool {
	for _, p := range nl.procs {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		code, body, _ := do(ctx, http.MethodGet, "http://"+p.http+"/cluster/raft", nil)
		cancel()
		var raft struct {
			Servers []struct{ Name, Address, Suffrage string }
		}
		if code != http.StatusOK || json.Unmarshal(body, &raft) != nil {
			continue
		}
		for _, s := range raft.Servers {
			if s.Name == name && s.Address == addr && s.Suffrage == "voter" {
				return true
			}
		}
	}
	return false
}

// restartAll kills every node and starts them again on their data dirs.
func (nl *netlabCluster) restartAll(t *testing.T) {
	for _, p := range nl.procs {
		p.Kill()
	}
	for _, p := range nl.procs {
		require.NoError(t, p.startOnce())
	}
	waitReady(t, nl.procs...)
}

// readBack reads every key through every node; the reads join the history.
func (nl *netlabCluster) readBack(t *testing.T) {
	ctx := testkit.Context(t, time.Minute)
	for _, key := range nl.hist.keys() {
		for _, p := range nl.procs {
			testkit.WaitFor(t, 30*time.Second, func() bool {
				return ctx.Err() == nil && nl.hist.get(p.http, key) != http.StatusServiceUnavailable
			}, "read of %s through %s", key, p.name)
		}
	}
}
