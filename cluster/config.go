package cluster

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/conclave-go/conclave/consensus"
	"github.com/conclave-go/conclave/internal/errs"
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

// membership returns the gossip profile; an invalid p (reported by
// validate) maps to LAN.
func (p Profile) membership() membership.Profile {
	if p > ProfileFast {
		p = ProfileLAN
	}
	return [...]membership.Profile{membership.LAN, membership.Local, membership.WAN, membership.LAN}[p]
}

// consensus returns the Raft profile; an invalid p maps to LAN.
func (p Profile) consensus() consensus.Profile {
	if p > ProfileFast {
		p = ProfileLAN
	}
	return [...]consensus.Profile{consensus.ProfileLAN, consensus.ProfileLocal, consensus.ProfileWAN, consensus.ProfileFast}[p]
}

// Config configures a [Node]. [New] takes it by value; the caller's copy is
// never modified. The zero value of every field means its default: the zero
// Config is a client node named after the host, gossiping on
// [membership.DefaultBindAddr] with the LAN profile.
type Config struct {
	// Name identifies the node in gossip and, on a server, in Raft. It must
	// be unique in the cluster and stable across restarts of a server with
	// the same data dir. Empty means the host name.
	Name string

	// BindAddr is the "ip:port" gossip listens on (UDP and TCP). Port 0
	// picks a free port. Empty means [membership.DefaultBindAddr].
	BindAddr string
	// AdvertiseAddr is the "ip" or "ip:port" other nodes use to reach this
	// one's gossip port; empty means the bound address (or, when bound to
	// every interface, the first private IPv4 address).
	AdvertiseAddr string
	// Seeds are gossip addresses of existing members ("host:port" or
	// "host"; names are resolved again on every attempt).
	Seeds []string
	// WaitForJoin makes Start wait until a seed answered.
	WaitForJoin bool
	// Tags are the application's tags, spread through gossip.
	Tags map[string]string

	// Profile selects timings for gossip and Raft together.
	Profile Profile

	// Keys enables gossip encryption (AES-GCM) when non-empty: Keys[0]
	// encrypts, every key decrypts; each is 16, 24 or 32 bytes. See
	// [membership.Config].Keys and [membership.Membership.InstallKey].
	Keys [][]byte
	// Label is the cluster label: nodes with another label ignore this
	// one's gossip. At most 255 bytes; not secret.
	Label string

	// Consensus makes the node a server: it may hold a Raft seat and runs
	// the state machine. Nil makes it a client: membership only, with
	// writes and queries sent to the servers.
	Consensus *ConsensusConfig

	// ClientTLS is used by a client node to reach servers that require
	// mutual TLS. Servers use Consensus.TLS.
	ClientTLS *tls.Config

	// AllowMixedSecurity lets a node protect one layer and not the other:
	// gossip encrypted (Keys) with Raft and RPC in plaintext, or TLS without
	// gossip encryption. Without it New refuses such a config: a plaintext
	// gossip layer lets anyone announce itself as a server, a plaintext
	// Raft/RPC port lets anyone write.
	AllowMixedSecurity bool

	// Logger receives every log line of the node, gossip's and Raft's
	// included. Nil discards them.
	Logger *slog.Logger

	// Network opens every socket; nil means the operating system's network.
	// The clustertest package passes a fault-injecting network here.
	Network netx.Network

	// Tuning holds the advanced knobs of every layer. Its zero value means
	// the profile's defaults.
	Tuning Tuning
}

// ConsensusConfig configures the server side of a node.
type ConsensusConfig struct {
	// BindAddr is the TCP "ip:port" Raft and Conclave's RPC share. Port 0
	// picks a free port. Empty means [consensus.DefaultBindAddr].
	BindAddr string
	// AdvertiseAddr is the address other servers dial. Required when
	// BindAddr is not a specific IP (a wildcard such as 0.0.0.0, or empty);
	// otherwise empty means the bound address. A host without a port, or
	// with port 0, takes the bound port.
	AdvertiseAddr string
	// DataDir holds the Raft log, stable store and snapshots (see the
	// consensus package). Required unless InMemory.
	DataDir string
	// InMemory keeps all Raft state in memory: nothing survives Close.
	InMemory bool
	// StartFresh lets a server whose Raft log was lost start empty and be
	// restored by the leader; see [consensus.Config.StartFresh].
	StartFresh bool
	// LogStore selects the store of the Raft log; the zero value is
	// raft-boltdb. See [consensus.LogStoreConfig].
	LogStore consensus.LogStoreConfig
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

	// TLS enables mutual TLS on the Raft and RPC port.
	TLS consensus.TLSConfig
}

// Tuning holds the advanced knobs of a [Config]: the membership and
// consensus packages' own, passed to them as they are, and the leader's
// reconciler timings. The zero value of every field means its default.
type Tuning struct {
	// Membership tunes gossip: timing overrides and the raw memberlist
	// configuration (see [membership.Tuning]).
	Membership membership.Tuning
	// Consensus tunes a server's Raft group: snapshots, message size, stale
	// reads and the raw raft configuration (see [consensus.Tuning]).
	Consensus consensus.Tuning

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
	// ProgressTimeout is how long a server behind the commit index may go
	// without applying an entry before it counts as stuck, and unhealthy,
	// however little it trails. Default by profile: local 5s, lan 30s,
	// wan 2m.
	ProgressTimeout time.Duration
}

// serverSettings is a server's settings with every default applied.
type serverSettings struct {
	ConsensusConfig
	Tuning
}

// Reserved gossip tags that carry the server side's settings.
const (
	tagExpect  = membership.ReservedTagPrefix + "expect"
	tagLeaving = membership.ReservedTagPrefix + "leaving"
	tagHasData = membership.ReservedTagPrefix + "data" // started on Raft state of its own
)

func (c Config) validate() error {
	var problems []error
	if c.Profile > ProfileFast {
		problems = append(problems, fieldError("Profile", c.Profile, "allowed ProfileLAN, ProfileLocal, ProfileWAN, ProfileFast"))
	}
	if c.Consensus != nil {
		problems = append(problems, c.Consensus.validate())
	}
	problems = append(problems, c.validateSecurity())
	return errors.Join(append(problems, c.Tuning.validate())...)
}

// validateSecurity refuses one protected layer beside a plaintext one,
// unless AllowMixedSecurity says it is meant.
func (c Config) validateSecurity() error {
	tlsOn, tlsField := c.ClientTLS != nil, "ClientTLS"
	if c.Consensus != nil {
		tlsOn, tlsField = c.Consensus.TLS.Server != nil, "Consensus.TLS"
	}
	gossipOn := len(c.Keys) > 0
	switch {
	case c.AllowMixedSecurity || tlsOn == gossipOn:
		return nil
	case gossipOn:
		return fieldError(tlsField, "unset", "set too when Keys encrypt gossip, or set AllowMixedSecurity: "+
			"without TLS anyone who reaches the Raft/RPC port can write")
	}
	return fieldError("Keys", "unset", "set too when %s is set, or set AllowMixedSecurity: "+
		"without gossip encryption anyone who reaches the gossip port can announce itself as a server", tlsField)
}

func (c ConsensusConfig) validate() error {
	var problems []error
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
			problems = append(problems, fieldError(n.field, n.v, "allowed %s", n.allow))
		}
	}
	if c.MaxVoters > 0 && c.MinQuorum > c.MaxVoters {
		problems = append(problems, fieldError("Consensus.MinQuorum", c.MinQuorum, "at most MaxVoters (%d)", c.MaxVoters))
	}
	return errors.Join(problems...)
}

func (t Tuning) validate() error {
	var problems []error
	durations := []struct {
		field string
		d     time.Duration
	}{
		{"Tuning.DeadServerTimeout", t.DeadServerTimeout},
		{"Tuning.ServerStabilizationTime", t.ServerStabilizationTime},
		{"Tuning.ReconcileInterval", t.ReconcileInterval},
		{"Tuning.LastContactThreshold", t.LastContactThreshold},
		{"Tuning.ProgressTimeout", t.ProgressTimeout},
	}
	for _, d := range durations {
		if d.d < 0 {
			problems = append(problems, fieldError(d.field, d.d, "0 (the profile's default) or more"))
		}
	}
	return errors.Join(problems...)
}

func fieldError(field string, value any, allowed string, args ...any) error {
	return errs.Invalid(field, value, allowed, args...)
}

// profileDefaults are the reconciler's timings for one profile.
type profileDefaults struct {
	dead, stabilize, reconcile, lastContact, progress time.Duration
}

func (p Profile) defaults() profileDefaults {
	switch p {
	case ProfileLocal:
		return profileDefaults{5 * time.Second, time.Second, 500 * time.Millisecond, time.Second, 5 * time.Second}
	case ProfileWAN:
		return profileDefaults{5 * time.Minute, 30 * time.Second, 30 * time.Second, 10 * time.Second, 2 * time.Minute}
	default:
		return profileDefaults{time.Minute, 10 * time.Second, 10 * time.Second, 2 * time.Second, 30 * time.Second}
	}
}

// resolve returns the server settings with every default applied.
func (c ConsensusConfig) resolve(p Profile, t Tuning) serverSettings {
	d := p.defaults()
	setDur := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	setDur(&t.DeadServerTimeout, d.dead)
	setDur(&t.ServerStabilizationTime, d.stabilize)
	setDur(&t.ReconcileInterval, d.reconcile)
	setDur(&t.LastContactThreshold, d.lastContact)
	setDur(&t.ProgressTimeout, d.progress)
	if t.MaxTrailingLogs == 0 {
		t.MaxTrailingLogs = 1000
	}
	if c.MaxVoters == 0 {
		c.MaxVoters = 5
	}
	if c.MinQuorum == 0 {
		c.MinQuorum = max(1, min(c.BootstrapExpect, c.MaxVoters))
	}
	if c.BindAddr == "" {
		c.BindAddr = consensus.DefaultBindAddr
	}
	return serverSettings{ConsensusConfig: c, Tuning: t}
}

func (c serverSettings) policy() reconcilePolicy {
	return reconcilePolicy{
		MaxVoters:         c.MaxVoters,
		MinQuorum:         c.MinQuorum,
		DeadServerTimeout: c.DeadServerTimeout,
		Stabilization:     c.ServerStabilizationTime,
	}
}

func (c serverSettings) healthPolicy() healthPolicy {
	return healthPolicy{LastContactThreshold: c.LastContactThreshold, MaxTrailingLogs: c.MaxTrailingLogs, ProgressTimeout: c.ProgressTimeout}
}
