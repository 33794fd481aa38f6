// Package netlab gives a test several hosts on one machine: each host is a
// network namespace with its own address on a bridge, so processes started
// in it bind wildcard addresses and advertise a routable one, as on real
// machines. Faults are iptables rules inside the namespaces: partitions,
// one-way cuts and random packet loss. Readdress moves a host to a new
// address.
//
// It needs root, ip (iproute2) and iptables; without them [New] skips the
// test with the reason (and fails it under CI). Everything a lab creates is removed when the
// test ends, and [New] first removes what a crashed run left behind.
package netlab

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/conclave-go/conclave/internal/testkit"
)

// prefix starts the name of every namespace and link a lab creates, so a
// stale one can be recognised and removed; the lab's three-digit id
// follows it.
const prefix = "cvl"

// Lab is a set of hosts on one bridge. Its methods are safe for concurrent
// use.
type Lab struct {
	t      testing.TB
	id     string // the subnet octet as three digits, part of every name
	bridge string
	net    [3]byte // 10.x.y: the lab's /24
	gw     netip.Addr

	mu     sync.Mutex // guards hosts' addresses and nextIP
	hosts  []*Host
	nextIP byte
}

// Host is one namespace of a lab.
type Host struct {
	lab  *Lab
	ns   string
	veth string
	ip   netip.Addr // guarded by lab.mu
}

// Available reports why a lab cannot be built here, or "" when it can.
func Available() string {
	if os.Geteuid() != 0 {
		return "netlab needs root to create network namespaces"
	}
	for _, tool := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "netlab needs " + tool + " (iproute2, iptables): not found"
		}
	}
	return ""
}

// Require skips t when a lab cannot be built here, saying why; under CI
// (CI=true), where .ci/run installs what a lab needs, it fails t instead.
func Require(t testing.TB) {
	t.Helper()
	if why := Available(); why != "" {
		testkit.Unavailable(t, why)
	}
}

// New builds a lab of n hosts; see [Require] for when it cannot. The lab is
// removed when t ends.
func New(t testing.TB, n int) *Lab {
	t.Helper()
	Require(t)
	RemoveStale()
	octet, err := reserve()
	if err != nil {
		t.Fatalf("netlab: %v", err)
	}
	id := fmt.Sprintf("%03d", octet)
	l := &Lab{
		t: t, id: id, bridge: prefix + id + "b",
		net: [3]byte{10, 77, octet}, nextIP: 10,
	}
	l.gw = l.addr(1)
	t.Cleanup(l.remove)
	l.run("ip", "link", "add", l.bridge, "type", "bridge")
	l.run("ip", "addr", "add", l.gw.String()+"/24", "dev", l.bridge)
	l.run("ip", "link", "set", l.bridge, "up")
	for i := range n {
		l.hosts = append(l.hosts, l.addHost(i))
	}
	return l
}

func (l *Lab) addr(last byte) netip.Addr {
	return netip.AddrFrom4([4]byte{l.net[0], l.net[1], l.net[2], last})
}

func (l *Lab) addHost(i int) *Host {
	h := &Host{lab: l, ns: fmt.Sprintf("%s%s-%d", prefix, l.id, i), veth: fmt.Sprintf("%s%sh%d", prefix, l.id, i)}
	l.run("ip", "netns", "add", h.ns)
	l.run("ip", "link", "add", h.veth, "type", "veth", "peer", "name", "eth0", "netns", h.ns)
	l.run("ip", "link", "set", h.veth, "master", l.bridge, "up")
	l.run("ip", "netns", "exec", h.ns, "ip", "link", "set", "lo", "up")
	l.run("ip", "netns", "exec", h.ns, "ip", "link", "set", "eth0", "up")
	h.ip = l.newIP()
	l.run("ip", "netns", "exec", h.ns, "ip", "addr", "add", h.ip.String()+"/24", "dev", "eth0")
	return h
}

func (l *Lab) newIP() netip.Addr {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.nextIP == 254 {
		l.t.Fatalf("netlab: no address left in %v/24", l.addr(0))
	}
	ip := l.addr(l.nextIP)
	l.nextIP++
	return ip
}

// Host returns host i.
func (l *Lab) Host(i int) *Host { return l.hosts[i] }

// Len returns the number of hosts.
func (l *Lab) Len() int { return len(l.hosts) }

// Gateway is the test process's own address on the lab's bridge: hosts see
// its requests come from there.
func (l *Lab) Gateway() netip.Addr { return l.gw }

// IP returns the host's current address.
func (h *Host) IP() netip.Addr {
	h.lab.mu.Lock()
	defer h.lab.mu.Unlock()
	return h.ip
}

// Namespace returns the name of the host's network namespace.
func (h *Host) Namespace() string { return h.ns }

// Command returns a command that runs name with args inside the host's
// namespace. ip netns exec replaces itself with the program, so the
// command's process is the program's and signals reach it.
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", h.ns, name}, args...)...)
}

// Readdress moves the host to a new address, as when a machine comes back
// with another one; connections to the old address break. It returns the
// new address.
func (h *Host) Readdress() netip.Addr {
	ip := h.lab.newIP()
	h.lab.mu.Lock()
	old := h.ip
	h.ip = ip
	h.lab.mu.Unlock()
	// Deleting the only address of a subnet first: deleting a primary
	// address also deletes the secondaries of its subnet.
	h.lab.run("ip", "netns", "exec", h.ns, "ip", "addr", "del", old.String()+"/24", "dev", "eth0")
	h.lab.run("ip", "netns", "exec", h.ns, "ip", "addr", "add", ip.String()+"/24", "dev", "eth0")
	return ip
}

// Partition splits the hosts into groups that cannot reach each other; a
// host in no group keeps reaching everyone. Rules add to those in force;
// Heal removes them all.
func (l *Lab) Partition(groups ...[]int) {
	for gi, g := range groups {
		for oi, o := range groups {
			if gi == oi {
				continue
			}
			for _, to := range g {
				for _, from := range o {
					l.drop(to, from)
				}
			}
		}
	}
}

// Cut drops every packet from host from to host to, in that direction only.
func (l *Lab) Cut(from, to int) { l.drop(to, from) }

func (l *Lab) drop(to, from int) {
	l.iptables(to, "-A", "INPUT", "-s", l.hosts[from].IP().String(), "-j", "DROP")
}

// Loss makes host i drop each incoming packet with probability p, from the
// other hosts and the gateway alike.
func (l *Lab) Loss(i int, p float64) {
	l.iptables(i, "-A", "INPUT", "!", "-i", "lo", "-m", "statistic", "--mode", "random",
		"--probability", fmt.Sprintf("%.4f", p), "-j", "DROP")
}

// Heal removes every fault rule from every host.
func (l *Lab) Heal() {
	for i := range l.hosts {
		l.iptables(i, "-F", "INPUT")
	}
}

func (l *Lab) iptables(i int, args ...string) {
	l.run("ip", append([]string{"netns", "exec", l.hosts[i].ns, "iptables", "-w"}, args...)...)
}

// run runs a command and fails the test when it fails.
func (l *Lab) run(name string, args ...string) {
	l.t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		l.t.Fatalf("netlab: %s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
}

// ownerDir holds one file per lab in use, named after its subnet's third
// octet (which is also its id) and holding the owning process's id, so
// that labs of concurrent test processes neither share a subnet nor remove
// each other.
var ownerDir = filepath.Join(os.TempDir(), "conclave-netlab")

// reserve claims a free subnet octet for this process.
func reserve() (byte, error) {
	if err := os.MkdirAll(ownerDir, 0o700); err != nil {
		return 0, err
	}
	for _, i := range rand.Perm(250) {
		octet := byte(i + 1)
		f, err := os.OpenFile(ownerFile(octet), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return 0, err
		}
		_, err = fmt.Fprint(f, os.Getpid())
		return octet, errors.Join(err, f.Close())
	}
	return 0, errors.New("every lab subnet is in use")
}

func ownerFile(octet byte) string { return filepath.Join(ownerDir, fmt.Sprintf("%03d", octet)) }

// owned reports whether the lab with id (its octet, as three digits) belongs
// to a live process.
func owned(id string) bool {
	n, err := strconv.Atoi(id)
	if err != nil || n < 1 || n > 250 {
		return false
	}
	b, err := os.ReadFile(ownerFile(byte(n)))
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return err == nil && syscall.Kill(pid, 0) == nil
}

// remove deletes the lab's namespaces (their veth ends go with them) and
// bridge, then releases its subnet. It reports but does not stop on errors.
func (l *Lab) remove() {
	defer os.Remove(ownerFile(l.net[2]))
	for _, h := range l.hosts {
		if out, err := exec.Command("ip", "netns", "del", h.ns).CombinedOutput(); err != nil {
			l.t.Logf("netlab: removing %s: %v: %s", h.ns, err, out)
		}
	}
	if out, err := exec.Command("ip", "link", "del", l.bridge).CombinedOutput(); err != nil {
		l.t.Logf("netlab: removing %s: %v: %s", l.bridge, err, out)
	}
}

// RemoveStale deletes every namespace and link of a lab whose process is
// gone, such as those a crashed or interrupted test left behind; labs of
// live processes stay.
func RemoveStale() {
	stale := func(name string) bool {
		rest, ok := strings.CutPrefix(name, prefix)
		return ok && (len(rest) < 3 || !owned(rest[:3]))
	}
	if out, err := exec.Command("ip", "netns", "list").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			if name, _, _ := strings.Cut(strings.TrimSpace(line), " "); stale(name) {
				_ = exec.Command("ip", "netns", "del", name).Run()
			}
		}
	}
	if out, err := exec.Command("ip", "-o", "link", "show").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			fields := strings.Fields(line)
			if len(fields) < 2 {
				continue
			}
			name, _, _ := strings.Cut(strings.TrimSuffix(fields[1], ":"), "@")
			if stale(name) {
				_ = exec.Command("ip", "link", "del", name).Run()
			}
		}
	}
}
