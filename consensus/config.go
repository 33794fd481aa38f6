package consensus

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/hashicorp/raft"

	"github.com/conclave-go/conclave/internal/errs"
	"github.com/conclave-go/conclave/internal/logadapt"
	"github.com/conclave-go/conclave/internal/netx"
	"github.com/conclave-go/conclave/internal/rpc"
)

// Profile selects Raft's timing: how quickly failures are detected against how
// much slowness is tolerated before an election.
type Profile uint8

const (
	// ProfileLAN is the default, for servers in one data centre: 400 ms
	// heartbeat and election timeouts and leader lease (hashicorp/raft's
	// defaults are 1 s), so that a lost leader is replaced in under a second
	// instead of 2 s, while 50 ms of added delay on every link causes no
	// spurious election (docs/PERFORMANCE.md).
	ProfileLAN Profile = iota
	// ProfileLocal is for tests and groups on one machine: elections within
	// about a second, yet tolerant of a loaded machine running the race
	// detector.
	ProfileLocal
	// ProfileWAN uses 3 s timeouts, for servers across regions.
	ProfileWAN
	// ProfileFast is for servers on a fast, quiet network that must replace
	// a lost leader within a few hundred milliseconds: 120 ms timeouts
	// (about 270 ms failover). It holds steady with 100 ms round trips,
	// but round trips or process pauses beyond 120 ms (a saturated machine,
	// long garbage collections) cause needless elections; prefer ProfileLAN
	// unless failover time matters that much.
	ProfileFast
)

// String returns the profile's name.
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
	default:
		return "profile(" + strconv.Itoa(int(p)) + ")"
	}
}

// TLSConfig enables mutual TLS on the node's port. Both fields are set or
// neither. Server must require and verify client certificates
// (tls.RequireAndVerifyClientCert); Client must present a certificate and
// verify the server's. Every server of a group uses configurations issued by
// the same authority.
type TLSConfig struct {
	Server *tls.Config
	Client *tls.Config
}

func (t TLSConfig) enabled() bool { return t.Server != nil }

// Config configures a [Node]. It is taken by value: the caller's copy is never
// modified. The zero value of every field means its default; Name (or the
// host name), StateMachine, DataDir (or InMemory) and, when BindAddr is a
// wildcard, AdvertiseAddr are what a server must be given.
type Config struct {
	// Name names this server in the Raft configuration (raft.ServerID). It must
	// stay the same across restarts with the same DataDir. Required; at most
	// 255 bytes.
	Name string

	// BindAddr is the TCP address the node listens on, for both Raft and
	// Conclave's RPC. Port 0 picks a free port; [Node.Addr] reports the one
	// bound.
	BindAddr string

	// AdvertiseAddr is the address other servers dial to reach this one.
	// Empty means the bound address, which then must not be a wildcard
	// (0.0.0.0 or ::). A host without a port, or with port 0, takes the bound
	// port.
	AdvertiseAddr string

	// DataDir holds the node's durable state:
	//
	//	DataDir/raft.db      bolt file: Raft log and stable store (term, vote)
	//	DataDir/logstore     name of the log store the directory holds
	//	DataDir/snapshots/   state machine snapshots, newest SnapshotRetain kept
	//
	// With another LogStore, that store's files replace raft.db. Required
	// unless InMemory. Created (0700) when missing.
	DataDir string

	// LogStore selects the store of the Raft log and stable store. The zero
	// value is raft-boltdb in DataDir/raft.db. A DataDir keeps the store it
	// was created with: starting it with another fails with
	// [ErrLogStoreMismatch]. Must be the zero value when InMemory is set.
	LogStore LogStoreConfig

	// StartFresh lets a server whose Raft log was lost start anyway: when
	// the log store holds no log and no term (raft.db deleted or emptied)
	// while snapshots remain, the snapshots are moved aside to
	// DataDir/snapshots.lost-<unix time> and the server starts empty, to be
	// caught up by the leader with a snapshot; an empty (0-byte) raft.db is
	// removed. Without it such a server refuses to start ([ErrLostLog],
	// [ErrCorruptLog]): the term and vote it promised are gone. Set it for
	// that one start, as the restore procedure, then unset it.
	StartFresh bool

	// InMemory keeps log, stable store and snapshots in memory: nothing
	// survives Close. For tests and ephemeral groups. DataDir must be empty.
	InMemory bool

	// StateMachine is the host's replicated state. Required. It may also
	// implement [Querier].
	StateMachine StateMachine

	// Network opens the listener and every outgoing connection. Nil means
	// the operating system's network.
	Network netx.Network

	// TLS enables mutual TLS for every connection, Raft's and RPC's. The zero
	// value means plaintext.
	TLS TLSConfig

	// Profile selects Raft's timings. Ignored when Tuning.Raft is set.
	Profile Profile

	// Logger receives the node's logs and Raft's. Nil discards them.
	Logger *slog.Logger

	// Tuning holds the advanced knobs. Its zero value means the defaults.
	Tuning Tuning
}

// Tuning holds the advanced knobs of a [Config]. The zero value of every
// field means its default.
type Tuning struct {
	// SnapshotThreshold is how many log entries since the last snapshot
	// trigger a new one (checked every SnapshotInterval). Default raft's
	// (8192). Ignored when Raft is set.
	SnapshotThreshold uint64
	// SnapshotInterval is how often the threshold is checked (randomised
	// between 1x and 2x); at least 5 ms. Default raft's (2 min). Ignored
	// when Raft is set.
	SnapshotInterval time.Duration
	// TrailingLogs is how many entries are kept in the log after a snapshot,
	// so slightly lagging followers catch up without a snapshot. Default
	// raft's (10240). Ignored when Raft is set.
	TrailingLogs uint64
	// SnapshotRetain is how many snapshots are kept on disk. Default
	// [DefaultSnapshotRetain].
	SnapshotRetain int

	// MaxMessageSize bounds, in bytes, every command, query and result, and
	// so every RPC frame. Larger commands are refused with [ErrTooLarge].
	// Default [DefaultMaxMessageSize].
	MaxMessageSize int

	// MaxStaleness bounds [Stale] reads on a follower: if the last contact
	// with a leader is older, the read fails with [ErrStale]. Zero means
	// unbounded.
	MaxStaleness time.Duration

	// ConnIdleTimeout closes a connection to the node's port that has
	// carried nothing for this long while no request on it is served. It
	// must be at least 4 times the longer of Raft's heartbeat and election
	// timeouts, so that live Raft and RPC connections are never cut.
	// Default 2 min (or that minimum, when longer).
	ConnIdleTimeout time.Duration
	// MaxConns bounds the open connections to the node's port after their
	// protocol byte. At the bound a new connection displaces the one idle
	// the longest, or is refused; refusals are counted in [Node.ConnStats]
	// and logged at most once per 10 s. A connection costs a goroutine
	// until its first request, then the buffers of its protocol (up to about
	// 512 KiB for Raft's). Default [DefaultMaxConns].
	MaxConns int
	// MaxConnsPerIP bounds those connections from one remote IP address,
	// so that one source cannot take every slot of MaxConns: beyond it a new
	// connection displaces that address's connection idle the longest, or
	// is refused. Every process of a cluster on one host shares an address.
	// Default half of MaxConns; at most MaxConns.
	MaxConnsPerIP int

	// Raft, when set, replaces the timings and batch size derived from
	// Profile and the snapshot settings above. The node works on a copy and
	// always overwrites these fields of it: LocalID (from Name), Logger,
	// LogOutput and LogLevel (from Logger), NotifyCh (nil: leadership is
	// observed), ProtocolVersion (the newest), and ShutdownOnRemove (false:
	// a removed server stays up and can be added back).
	Raft *raft.Config
}

// Defaults for the zero fields of a [Config].
const (
	DefaultBindAddr       = "0.0.0.0:7950"
	DefaultSnapshotRetain = 2
	DefaultMaxMessageSize = 8 << 20
	DefaultMaxConns       = 1024
	minConnIdleFactor     = 4
	maxConnsLimit         = 1 << 20
	maxIDLen              = 255
	minMessageSize        = 1 << 10
	maxMessageSizeLimit   = 256 << 20
)

// withDefaults fills the fields whose zero value means a default.
func (c Config) withDefaults() Config {
	rc := raft.DefaultConfig()
	if c.Name == "" {
		c.Name, _ = os.Hostname()
	}
	if c.BindAddr == "" {
		c.BindAddr = DefaultBindAddr
	}
	t := &c.Tuning
	if t.SnapshotThreshold == 0 {
		t.SnapshotThreshold = rc.SnapshotThreshold
	}
	if t.SnapshotInterval == 0 {
		t.SnapshotInterval = rc.SnapshotInterval
	}
	if t.TrailingLogs == 0 {
		t.TrailingLogs = rc.TrailingLogs
	}
	if t.SnapshotRetain == 0 {
		t.SnapshotRetain = DefaultSnapshotRetain
	}
	if t.MaxMessageSize == 0 {
		t.MaxMessageSize = DefaultMaxMessageSize
	}
	if t.MaxConns == 0 {
		t.MaxConns = DefaultMaxConns
	}
	if t.MaxConnsPerIP == 0 {
		t.MaxConnsPerIP = max(t.MaxConns/2, 1)
	}
	if t.ConnIdleTimeout == 0 {
		t.ConnIdleTimeout = max(rpc.DefaultIdleTimeout, c.minConnIdle())
	}
	return c
}

// validate returns every problem found, joined, each naming its field.
func (c Config) validate() error {
	return errors.Join(
		c.validateIdentity(),
		c.validateAddrs(),
		c.validateStorage(),
		c.validateTLS(),
		c.validateTuning(),
	)
}

func (c Config) validateIdentity() error {
	if c.Name == "" {
		return configError("Name", c.Name, "every server needs a name, and the host name is unknown")
	}
	if len(c.Name) > maxIDLen {
		return configError("Name", fmt.Sprintf("%d bytes long", len(c.Name)), "at most %d bytes", maxIDLen)
	}
	return nil
}

func (c Config) validateAddrs() error {
	bindHost, port, err := net.SplitHostPort(c.BindAddr)
	if err != nil {
		return configError("BindAddr", c.BindAddr, `want "ip:port" (port 0 picks a free port)`)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return configError("BindAddr", c.BindAddr, "the port must be a number from 0 to 65535")
	}
	if c.AdvertiseAddr == "" {
		if ip := net.ParseIP(bindHost); ip == nil || ip.IsUnspecified() {
			return configError("AdvertiseAddr", c.AdvertiseAddr,
				"required when BindAddr (%s) is not a specific IP address: give the address other servers dial", c.BindAddr)
		}
		return nil
	}
	host, aport := splitMaybePort(c.AdvertiseAddr)
	switch {
	case host == "":
		return configError("AdvertiseAddr", c.AdvertiseAddr, `want "host" or "host:port"`)
	case net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified():
		return configError("AdvertiseAddr", c.AdvertiseAddr, "a wildcard address cannot be dialled: give the address other servers dial")
	case len(c.AdvertiseAddr) > maxIDLen:
		return configError("AdvertiseAddr", fmt.Sprintf("%d bytes long", len(c.AdvertiseAddr)), "at most %d bytes", maxIDLen)
	}
	if _, err := strconv.ParseUint(aport, 10, 16); aport != "" && err != nil {
		return configError("AdvertiseAddr", c.AdvertiseAddr, "the port must be a number from 0 to 65535")
	}
	return nil
}

func (c Config) validateStorage() error {
	var problems []error
	if c.StateMachine == nil {
		problems = append(problems, configError("StateMachine", nil, "required: the host's state machine"))
	}
	if c.InMemory && c.DataDir != "" {
		problems = append(problems, configError("DataDir", c.DataDir, "must be empty when InMemory is set"))
	}
	if !c.InMemory && c.DataDir == "" {
		problems = append(problems, configError("DataDir", c.DataDir, "required unless InMemory is set"))
	}
	problems = append(problems, c.LogStore.validate(c.InMemory))
	if c.Tuning.SnapshotRetain < 1 {
		problems = append(problems, configError("Tuning.SnapshotRetain", c.Tuning.SnapshotRetain, "0 (default %d) or more", DefaultSnapshotRetain))
	}
	return errors.Join(problems...)
}

func (c Config) validateTLS() error {
	if (c.TLS.Server == nil) != (c.TLS.Client == nil) {
		return configError("TLS", "half set", "set both Server and Client, or neither")
	}
	if c.TLS.Server != nil && c.TLS.Server.ClientAuth != tls.RequireAndVerifyClientCert {
		return configError("TLS.Server.ClientAuth", c.TLS.Server.ClientAuth, "must be tls.RequireAndVerifyClientCert (mutual TLS)")
	}
	return nil
}

func (c Config) validateTuning() error {
	var problems []error
	add := func(err error) { problems = append(problems, err) }
	t := c.Tuning
	if c.Profile > ProfileFast {
		add(configError("Profile", c.Profile, "allowed ProfileLAN, ProfileLocal, ProfileWAN, ProfileFast"))
	}
	if t.Raft == nil && t.SnapshotInterval < 5*time.Millisecond {
		add(configError("Tuning.SnapshotInterval", t.SnapshotInterval, "0 (default) or at least 5ms"))
	}
	if t.MaxMessageSize < minMessageSize || t.MaxMessageSize > maxMessageSizeLimit {
		add(configError("Tuning.MaxMessageSize", t.MaxMessageSize, "0 (default) or %d to %d bytes", minMessageSize, maxMessageSizeLimit))
	}
	if t.MaxStaleness < 0 {
		add(configError("Tuning.MaxStaleness", t.MaxStaleness, "0 (unbounded) or more"))
	}
	if least := c.minConnIdle(); t.ConnIdleTimeout < least {
		add(configError("Tuning.ConnIdleTimeout", t.ConnIdleTimeout, "0 (default) or at least %v (%d times Raft's longer of heartbeat and election timeouts)", least, minConnIdleFactor))
	}
	if t.MaxConns < 1 || t.MaxConns > maxConnsLimit {
		add(configError("Tuning.MaxConns", t.MaxConns, "0 (default %d) or 1 to %d", DefaultMaxConns, maxConnsLimit))
	} else if t.MaxConnsPerIP < 1 || t.MaxConnsPerIP > t.MaxConns {
		add(configError("Tuning.MaxConnsPerIP", t.MaxConnsPerIP, "0 (default: half of MaxConns) or 1 to MaxConns (%d)", t.MaxConns))
	}
	if t.Raft != nil {
		if err := raft.ValidateConfig(c.raftConfig()); err != nil {
			add(errs.Wrap("Tuning.Raft", "invalid", err))
		}
	}
	return errors.Join(problems...)
}

// minConnIdle is the shortest idle timeout that never cuts a live Raft
// connection: a leader sends on each at least once per heartbeat timeout.
func (c Config) minConnIdle() time.Duration {
	rc := c.raftConfig()
	return minConnIdleFactor * max(rc.HeartbeatTimeout, rc.ElectionTimeout)
}

// splitMaybePort splits "host:port" or returns addr as a host with no port.
func splitMaybePort(addr string) (host, port string) {
	if h, p, err := net.SplitHostPort(addr); err == nil {
		return h, p
	}
	return addr, ""
}

// profileTimings returns heartbeat, election, leader lease and commit
// timeouts.
func profileTimings(p Profile) (hb, election, lease, commit time.Duration) {
	switch p {
	case ProfileLocal:
		return 500 * time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond, 10 * time.Millisecond
	case ProfileWAN:
		return 3 * time.Second, 3 * time.Second, 1500 * time.Millisecond, 50 * time.Millisecond
	case ProfileFast:
		return 120 * time.Millisecond, 120 * time.Millisecond, 120 * time.Millisecond, 10 * time.Millisecond
	default:
		return 400 * time.Millisecond, 400 * time.Millisecond, 400 * time.Millisecond, 50 * time.Millisecond
	}
}

// profileMaxAppendEntries is how many entries the leader writes to its log
// in one batch and sends in one AppendEntries request (raft's default is
// 64). With many concurrent writers a larger group commit means fewer
// fsyncs per write: at 256 concurrent callers it raised write throughput by
// about 1.6x on a 3-server group with bolt on disk (docs/PERFORMANCE.md);
// below 64 callers it makes no difference.
const profileMaxAppendEntries = 256

// raftConfig builds the raft.Config the node runs with.
func (c Config) raftConfig() *raft.Config {
	var rc raft.Config
	if c.Tuning.Raft != nil {
		rc = *c.Tuning.Raft
	} else {
		rc = *raft.DefaultConfig()
		rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout, rc.CommitTimeout = profileTimings(c.Profile)
		rc.MaxAppendEntries = profileMaxAppendEntries
		// Buffer raft's apply channel (MaxAppendEntries entries) so that a
		// forwarded batch, handed over by one goroutine, commits in groups.
		rc.BatchApplyCh = true
		rc.SnapshotThreshold = c.Tuning.SnapshotThreshold
		rc.SnapshotInterval = c.Tuning.SnapshotInterval
		rc.TrailingLogs = c.Tuning.TrailingLogs
	}
	rc.LocalID = raft.ServerID(c.Name)
	rc.Logger = logadapt.Hclog(c.Logger, raftDemotions(nil, nil)).Named("raft")
	rc.LogOutput = nil
	rc.LogLevel = ""
	rc.NotifyCh = nil
	rc.ProtocolVersion = raft.ProtocolVersionMax
	rc.ShutdownOnRemove = false
	return &rc
}

// String describes the config for logs, without the state machine or TLS
// material.
func (c Config) String() string {
	store := c.LogStore.name()
	if c.InMemory {
		store = "inmem"
	}
	return fmt.Sprintf("name=%s bind=%s advertise=%s dir=%s inmem=%v logstore=%s profile=%v tls=%v",
		c.Name, c.BindAddr, c.AdvertiseAddr, c.DataDir, c.InMemory, store, c.Profile, c.TLS.enabled())
}
