package consensus

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/raft"

	"github.com/conclave-go/conclave/internal/logadapt"
	"github.com/conclave-go/conclave/internal/netx"
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
// modified. Start from [DefaultConfig].
type Config struct {
	// ID names this server in the Raft configuration (raft.ServerID). It must
	// stay the same across restarts with the same DataDir. Required; at most
	// 255 bytes.
	ID string

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
	LogStore LogStore

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

	// Profile selects Raft's timings. Ignored when Raft is set.
	Profile Profile

	// SnapshotThreshold is how many log entries since the last snapshot
	// trigger a new one (checked every SnapshotInterval). Ignored when Raft
	// is set.
	SnapshotThreshold uint64
	// SnapshotInterval is how often the threshold is checked (randomised
	// between 1x and 2x). Ignored when Raft is set.
	SnapshotInterval time.Duration
	// TrailingLogs is how many entries are kept in the log after a snapshot,
	// so slightly lagging followers catch up without a snapshot. Ignored when
	// Raft is set.
	TrailingLogs uint64
	// SnapshotRetain is how many snapshots are kept on disk. At least 1.
	SnapshotRetain int

	// MaxMessageSize bounds, in bytes, every command, query and result, and
	// so every RPC frame. Larger commands are refused with [ErrTooLarge].
	MaxMessageSize int

	// MaxStaleness bounds [Stale] reads on a follower: if the last contact
	// with a leader is older, the read fails with [ErrStale]. Zero means
	// unbounded.
	MaxStaleness time.Duration

	// Logger receives the node's logs and Raft's. Nil discards them.
	Logger *slog.Logger

	// Raft, when set, replaces the timings and batch size derived from
	// Profile and the snapshot settings from SnapshotThreshold,
	// SnapshotInterval and TrailingLogs.
	// The node works on a copy and always overrides these fields: LocalID
	// (from ID), Logger, LogOutput and LogLevel (from Logger), NotifyCh
	// (nil: leadership is observed), ProtocolVersion (the newest), and
	// ShutdownOnRemove (false: a removed server stays up and can be added
	// back).
	Raft *raft.Config
}

// Defaults for [DefaultConfig].
const (
	DefaultBindAddr       = "0.0.0.0:7950"
	DefaultSnapshotRetain = 2
	DefaultMaxMessageSize = 8 << 20
	maxIDLen              = 255
	minMessageSize        = 1 << 10
	maxMessageSizeLimit   = 256 << 20
)

// DefaultConfig returns a configuration with every optional field set to its
// default. ID, DataDir (or InMemory) and StateMachine remain to be set.
func DefaultConfig() Config {
	rc := raft.DefaultConfig()
	return Config{
		BindAddr:          DefaultBindAddr,
		Profile:           ProfileLAN,
		SnapshotThreshold: rc.SnapshotThreshold,
		SnapshotInterval:  rc.SnapshotInterval,
		TrailingLogs:      rc.TrailingLogs,
		SnapshotRetain:    DefaultSnapshotRetain,
		MaxMessageSize:    DefaultMaxMessageSize,
	}
}

// validate returns the first problem found, naming the field.
func (c Config) validate() error {
	if err := c.validateIdentity(); err != nil {
		return err
	}
	if err := c.validateStorage(); err != nil {
		return err
	}
	if err := c.validateTLS(); err != nil {
		return err
	}
	return c.validateTuning()
}

func (c Config) validateIdentity() error {
	if c.ID == "" {
		return configError("ID", "required")
	}
	if len(c.ID) > maxIDLen {
		return configError("ID", "%d bytes, at most %d allowed", len(c.ID), maxIDLen)
	}
	if _, port, err := net.SplitHostPort(c.BindAddr); err != nil {
		return configError("BindAddr", "%q is not host:port: %v", c.BindAddr, err)
	} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return configError("BindAddr", "%q has a bad port", c.BindAddr)
	}
	if c.AdvertiseAddr != "" {
		host, port := splitMaybePort(c.AdvertiseAddr)
		if host == "" {
			return configError("AdvertiseAddr", "%q has no host", c.AdvertiseAddr)
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			return configError("AdvertiseAddr", "%q is a wildcard address, others cannot dial it", c.AdvertiseAddr)
		}
		if _, err := strconv.ParseUint(port, 10, 16); port != "" && err != nil {
			return configError("AdvertiseAddr", "%q has a bad port", c.AdvertiseAddr)
		}
		if len(c.AdvertiseAddr) > maxIDLen {
			return configError("AdvertiseAddr", "%d bytes, at most %d allowed", len(c.AdvertiseAddr), maxIDLen)
		}
	}
	return nil
}

func (c Config) validateStorage() error {
	if c.StateMachine == nil {
		return configError("StateMachine", "required")
	}
	if c.InMemory && c.DataDir != "" {
		return configError("DataDir", "must be empty when InMemory is set")
	}
	if !c.InMemory && c.DataDir == "" {
		return configError("DataDir", "required unless InMemory is set")
	}
	if err := c.LogStore.validate(c.InMemory); err != nil {
		return err
	}
	if c.SnapshotRetain < 1 {
		return configError("SnapshotRetain", "%d, at least 1 allowed", c.SnapshotRetain)
	}
	return nil
}

func (c Config) validateTLS() error {
	if (c.TLS.Server == nil) != (c.TLS.Client == nil) {
		return configError("TLS", "set both Server and Client, or neither")
	}
	if c.TLS.Server != nil && c.TLS.Server.ClientAuth != tls.RequireAndVerifyClientCert {
		return configError("TLS.Server.ClientAuth", "must be tls.RequireAndVerifyClientCert (mutual TLS)")
	}
	return nil
}

func (c Config) validateTuning() error {
	if c.Profile > ProfileFast {
		return configError("Profile", "%v, allowed: ProfileLAN, ProfileLocal, ProfileWAN, ProfileFast", c.Profile)
	}
	if c.Raft == nil {
		if c.SnapshotThreshold < 1 {
			return configError("SnapshotThreshold", "0, at least 1 allowed")
		}
		if c.SnapshotInterval < 5*time.Millisecond {
			return configError("SnapshotInterval", "%v, at least 5ms allowed", c.SnapshotInterval)
		}
	}
	if c.MaxMessageSize < minMessageSize || c.MaxMessageSize > maxMessageSizeLimit {
		return configError("MaxMessageSize", "%d, allowed %d to %d bytes", c.MaxMessageSize, minMessageSize, maxMessageSizeLimit)
	}
	if c.MaxStaleness < 0 {
		return configError("MaxStaleness", "%v, must not be negative", c.MaxStaleness)
	}
	if c.Raft != nil {
		if err := raft.ValidateConfig(c.raftConfig()); err != nil {
			return configError("Raft", "%v", err)
		}
	}
	return nil
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
	if c.Raft != nil {
		rc = *c.Raft
	} else {
		rc = *raft.DefaultConfig()
		rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout, rc.CommitTimeout = profileTimings(c.Profile)
		rc.MaxAppendEntries = profileMaxAppendEntries
		// Buffer raft's apply channel (MaxAppendEntries entries) so that a
		// forwarded batch, handed over by one goroutine, commits in groups.
		rc.BatchApplyCh = true
		rc.SnapshotThreshold = c.SnapshotThreshold
		rc.SnapshotInterval = c.SnapshotInterval
		rc.TrailingLogs = c.TrailingLogs
	}
	rc.LocalID = raft.ServerID(c.ID)
	rc.Logger = logadapt.Hclog(c.Logger, raftDemotions(nil)).Named("raft")
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
	return fmt.Sprintf("id=%s bind=%s advertise=%s dir=%s inmem=%v logstore=%s profile=%v tls=%v",
		c.ID, c.BindAddr, c.AdvertiseAddr, c.DataDir, c.InMemory, store, c.Profile, c.TLS.enabled())
}
