package cluster

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/internal/netx"
	"github.com/conclave-go/conclave/membership"
)

// Profile selects the timings of membership and Raft together.
type Profile uint8

const (
	// ProfileLAN suits servers in one data centre. It is the zero value.
	ProfileLAN Profile = iota
	// ProfileLocal suits nodes on one machine: tests, demos, development.
	ProfileLocal
	// ProfileWAN suits servers spread over high-latency links.
	ProfileWAN
	// ProfileFast suits servers on a fast, quiet network that must replace a
	// lost leader within a few hundred milliseconds: LAN gossip with
	// [consensus.ProfileFast]'s Raft timings. Needless elections follow when
	// round trips or process pauses exceed 120 ms.
	ProfileFast
)

// String returns "lan", "local", "wan" or "profile(N)".
func (p Profile) String() string {
	switch p {
	case ProfileLAN:
		return "lan"
	case ProfileLocal:
		return "local"
	case ProfileWAN:
		return "wan"
	case ProfileFast:
		return "fast"
	}
	return fmt.Sprintf("profile(%d)", uint8(p))
}

// ParseProfile parses "lan", "local", "wan" or "fast".
func ParseProfile(s string) (Profile, error) {
	for _, p := range []Profile{ProfileLAN, ProfileLocal, ProfileWAN, ProfileFast} {
		if p.String() == s {
			return p, nil
		}
	}
	return 0, fmt.Errorf("cluster: unknown profile %q: allowed lan, local, wan, fast", s)
}

func (p Profile) membership() membership.Profile {
	return [...]membership.Profile{membership.LAN, membership.Local, membership.WAN, membership.LAN}[p]
}

func (p Profile) consensus() consensus.Profile {
	return [...]consensus.Profile{consensus.ProfileLAN, consensus.ProfileLocal, consensus.ProfileWAN, consensus.ProfileFast}[p]
}

// Config configures a [Node]. [New] takes it by value; the caller's copy is
// never modified.
type Config struct {
	// NodeName identifies the node in gossip and, on a server, in Raft. It
	// must be unique in the cluster and stable across restarts of a server
	// with the same data dir. Required.
	NodeName string

	// GossipAddr is the "ip:port" gossip listens on (UDP and TCP). Port 0
	// picks a free port. Default "0.0.0.0:7946".
	GossipAddr string
	// GossipAdvertise is the address other nodes use to reach this one's
	// gossip port; empty means the bound address.
	GossipAdvertise string
	// Seeds are gossip addresses of existing members ("host:port"; names
	// are resolved again on every attempt).
	Seeds []string
	// WaitForJoin makes Start wait until a seed answered.
	WaitForJoin bool
	// Tags are the application's tags, spread through gossip.
	Tags map[string]string

	// Profile selects timings for gossip and Raft together.
	Profile Profile

	// Consensus makes the node a server: it may hold a Raft seat and runs
	// the state machine. Nil makes it a client: membership only, with
	// writes and queries sent to the servers.
	Consensus *ConsensusConfig

	// ClientTLS is used by a client node to reach servers that require
	// mutual TLS. Servers use Consensus.TLS.
	ClientTLS *tls.Config

	// Membership is an escape hatch: when set, a copy is the base membership
	// configuration (keys, label, timing overrides, raw memberlist config).
	// These fields are always overwritten from the fields above: Name,
	// BindAddr, AdvertiseAddr, Seeds, WaitForJoin, Tags, SystemTags, Role,
	// RPCAddr, Profile, Network and Logger.
	Membership *membership.Config

	// Logger receives every log line of the node, gossip's and Raft's
	// included. Nil discards them.
	Logger *slog.Logger

	// Network opens every socket; nil means the operating system's network.
	// The clustertest package passes a fault-injecting network here.
	Network netx.Network
}

// ConsensusConfig configures the server side of a node.
type ConsensusConfig struct {
	// Addr is the TCP "ip:port" Raft and Conclave's RPC share. Port 0 picks
	// a free port. Default "0.0.0.0:7950".
	Addr string
	// Advertise is the address other servers dial; empty means the bound
	// address (which then must not be a wildcard).
	Advertise string
	// DataDir holds the Raft log, stable store and snapshots (see the
	// consensus package). Required unless InMemory.
	DataDir string
	// InMemory keeps all Raft state in memory: nothing survives Close.
	InMemory bool
	// StateMachine is the host's replicated state. Required.
	StateMachine consensus.StateMachine

	// BootstrapExpect is how many servers form the cluster initially: a
	// fresh server waits until gossip shows that many alive servers, all
	// with the same BootstrapExpect, then they bootstrap together. 1 is a
	// single-server cluster. 0 never bootstraps: the server waits to be
	// added by an existing leader.
	BootstrapExpect int

	// MaxVoters caps the voters; further servers stay non-voters (read
	// replicas that can take a seat when a voter fails). Default 5.
	MaxVoters int
	// MinQuorum is the fewest voters the reconciler leaves when it removes
	// failed servers. Default: BootstrapExpect, at least 1.
	MinQuorum int
	// DeadServerTimeout is how long a server must have been failed before
	// the leader removes it from the configuration. Default by profile:
	// local 5s, lan 1m, wan 5m.
	DeadServerTimeout time.Duration
	// ServerStabilizationTime is how long a non-voter must stay healthy
	// before it is promoted. Default by profile: local 1s, lan 10s, wan 30s.
	ServerStabilizationTime time.Duration
	// ReconcileInterval is how often every server rebuilds its group state
	// (what Health reports) and the leader reconciles, even without a
	// membership event. Default by profile: local 500ms, lan 10s, wan 30s.
	ReconcileInterval time.Duration
	// LastContactThreshold is the longest a server may go without hearing
	// from the leader and still count as healthy. Default by profile: local
	// 1s, lan 2s, wan 10s.
	LastContactThreshold time.Duration
	// MaxTrailingLogs is how far a server's applied index may trail the
	// leader's commit index while it counts as healthy. Default 1000.
	MaxTrailingLogs uint64

	// TLS enables mutual TLS on the Raft and RPC port.
	TLS consensus.TLSConfig

	// Consensus is an escape hatch: when set, a copy is the base consensus
	// configuration (snapshot tuning, raw raft config, message size, and
	// LogStore to run the Raft log on another store than bolt, such as
	// hashicorp/raft-wal; a DataDir keeps the store it was created with).
	// These fields are always overwritten: ID, BindAddr, AdvertiseAddr,
	// DataDir, InMemory, StateMachine, Network, TLS, Profile and Logger.
	Consensus *consensus.Config
}

// Reserved gossip tags that carry the server side's settings.
const (
	tagExpect  = membership.ReservedTagPrefix + "expect"
	tagLeaving = membership.ReservedTagPrefix + "leaving"
)

// Default addresses.
const (
	DefaultGossipAddr = "0.0.0.0:7946"
	DefaultRaftAddr   = "0.0.0.0:7950"
)

func (c Config) validate() error {
	if c.NodeName == "" {
		return fieldError("NodeName", "is empty: every node needs a unique name")
	}
	if c.Profile > ProfileFast {
		return fieldError("Profile", "is %d: allowed ProfileLAN, ProfileLocal, ProfileWAN, ProfileFast", c.Profile)
	}
	for k := range c.Tags {
		if strings.HasPrefix(k, membership.ReservedTagPrefix) {
			return fieldError("Tags", "key %q starts with %q, which is reserved for Conclave", k, membership.ReservedTagPrefix)
		}
	}
	if c.Consensus != nil {
		return c.Consensus.validate()
	}
	return nil
}

func (c ConsensusConfig) validate() error {
	if c.StateMachine == nil {
		return fieldError("Consensus.StateMachine", "is nil: a server needs the host's state machine")
	}
	counts := []struct {
		field string
		v     int
		allow string
	}{
		{"Consensus.BootstrapExpect", c.BootstrapExpect, "0 (join only) or the initial number of servers"},
		{"Consensus.MaxVoters", c.MaxVoters, "0 (default 5) or more"},
		{"Consensus.MinQuorum", c.MinQuorum, "0 (default) or more"},
	}
	for _, n := range counts {
		if n.v < 0 {
			return fieldError(n.field, "is %d: allowed %s", n.v, n.allow)
		}
	}
	durations := []struct {
		field string
		d     time.Duration
	}{
		{"Consensus.DeadServerTimeout", c.DeadServerTimeout},
		{"Consensus.ServerStabilizationTime", c.ServerStabilizationTime},
		{"Consensus.ReconcileInterval", c.ReconcileInterval},
		{"Consensus.LastContactThreshold", c.LastContactThreshold},
	}
	for _, d := range durations {
		if d.d < 0 {
			return fieldError(d.field, "is %v: allowed 0 (the profile's default) or more", d.d)
		}
	}
	if c.MaxVoters > 0 && c.MinQuorum > c.MaxVoters {
		return fieldError("Consensus.MinQuorum", "is %d, above MaxVoters %d", c.MinQuorum, c.MaxVoters)
	}
	return nil
}

func fieldError(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
}

// profileDefaults are the reconciler's timings for one profile.
type profileDefaults struct {
	dead, stabilize, reconcile, lastContact time.Duration
}

func (p Profile) defaults() profileDefaults {
	switch p {
	case ProfileLocal:
		return profileDefaults{5 * time.Second, time.Second, 500 * time.Millisecond, time.Second}
	case ProfileWAN:
		return profileDefaults{5 * time.Minute, 30 * time.Second, 30 * time.Second, 10 * time.Second}
	default:
		return profileDefaults{time.Minute, 10 * time.Second, 10 * time.Second, 2 * time.Second}
	}
}

// withDefaults fills zero fields of the server settings.
func (c ConsensusConfig) withDefaults(p Profile) ConsensusConfig {
	d := p.defaults()
	setDur := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	setDur(&c.DeadServerTimeout, d.dead)
	setDur(&c.ServerStabilizationTime, d.stabilize)
	setDur(&c.ReconcileInterval, d.reconcile)
	setDur(&c.LastContactThreshold, d.lastContact)
	if c.MaxVoters == 0 {
		c.MaxVoters = 5
	}
	if c.MinQuorum == 0 {
		c.MinQuorum = max(1, min(c.BootstrapExpect, c.MaxVoters))
	}
	if c.MaxTrailingLogs == 0 {
		c.MaxTrailingLogs = 1000
	}
	if c.Addr == "" {
		c.Addr = DefaultRaftAddr
	}
	return c
}

func (c ConsensusConfig) policy() reconcilePolicy {
	return reconcilePolicy{
		MaxVoters:         c.MaxVoters,
		MinQuorum:         c.MinQuorum,
		DeadServerTimeout: c.DeadServerTimeout,
		Stabilization:     c.ServerStabilizationTime,
	}
}

func (c ConsensusConfig) healthPolicy() healthPolicy {
	return healthPolicy{LastContactThreshold: c.LastContactThreshold, MaxTrailingLogs: c.MaxTrailingLogs}
}
