package membership

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/memberlist"

	"github.com/conclave-go/conclave/internal/errs"
	"github.com/conclave-go/conclave/internal/netx"
)

// DefaultPort is the gossip port used for a seed given without a port.
const DefaultPort = 7946

// DefaultBindAddr is the gossip address of a Config that sets none.
const DefaultBindAddr = "0.0.0.0:7946"

// maxNameLen bounds node names.
const maxNameLen = 128

// Config configures a [Membership]. The zero value of every field means its
// default, so the zero Config is a LAN node named after the host on
// [DefaultBindAddr]. [New] takes the Config by value and copies its maps and
// slices, so changing the caller's Config afterwards has no effect.
type Config struct {
	// Name identifies the node; it must be unique in the cluster (it is also
	// the node's Raft server ID when used through the cluster package).
	// Empty means the host name. At most 128 bytes of UTF-8.
	Name string

	// BindAddr is the "ip:port" to listen on for both UDP and TCP gossip.
	// The IP may be empty or unspecified (all interfaces); port 0 picks a
	// free port, reported by Local after Start. Empty means
	// [DefaultBindAddr]. A wildcard IP needs AdvertiseAddr unless the host
	// has a private IPv4 address to advertise.
	BindAddr string
	// AdvertiseAddr is the "ip" or "ip:port" other nodes use to reach this
	// one. Empty: the bound IP, or when bound to all interfaces the first
	// private IPv4 address; a missing or zero port means the bound port.
	AdvertiseAddr string

	// Role is advertised in gossip metadata. Zero is RoleClient.
	Role Role
	// RPCAddr is an optional "host:port" advertised in gossip metadata for
	// Conclave's RPC and Raft traffic.
	RPCAddr string
	// Tags are the user's tags, advertised in gossip metadata. Keys must be
	// non-empty and must not start with ReservedTagPrefix. Role, RPCAddr and
	// all tags together must encode to at most MetaMaxSize (512) bytes.
	Tags map[string]string
	// SystemTags are tags for Conclave's own packages; every key must start
	// with ReservedTagPrefix. Applications use Tags.
	SystemTags map[string]string

	// Seeds are addresses of existing members to join at Start: "ip:port",
	// "host:port", "ip" or "host" (port DefaultPort). Host names are
	// resolved again on every attempt, so a DNS name that tracks the
	// cluster keeps working. The node's own address may be listed.
	Seeds []string
	// WaitForJoin makes Start wait until the node has joined at least one
	// seed, retrying every Tuning.RejoinInterval until Start's context is
	// done. When false, Start returns after one attempt even if no seed
	// answered (the first node of a cluster), and the node keeps trying the
	// seeds in the background while it has no other alive member.
	WaitForJoin bool

	// SnapshotPath, when set, is a file where the node records the members
	// it knows and whether it left on purpose, rewritten after every change.
	// At New, the recorded members are added to Seeds, so a restarted node
	// rejoins its cluster even if no configured seed is alive; after a
	// Leave they are not. Its directory must exist.
	SnapshotPath string

	// Profile selects timing defaults; zero is LAN.
	Profile Profile

	// Keys enables gossip encryption (AES-GCM) when non-empty. Keys[0] is
	// the primary key, used to encrypt; every key is tried to decrypt. Each
	// key is 16, 24 or 32 bytes (AES-128, AES-192, AES-256). Rotate keys at
	// runtime with InstallKey, UseKey and RemoveKey.
	Keys [][]byte
	// Label is the cluster label, at most 255 bytes. Nodes with different
	// labels ignore each other's packets and streams. With encryption it is
	// authenticated as well. It is not secret.
	Label string

	// Network opens every socket; nil means the operating system's network.
	// Tests pass a fault-injecting network.
	Network netx.Network
	// Logger receives this package's and memberlist's logs, with attributes
	// component=membership and node=<Name>. Nil discards them.
	Logger *slog.Logger

	// Tuning holds the advanced knobs: timing overrides and the raw
	// memberlist configuration. The zero value keeps the profile's values.
	Tuning Tuning
}

// Tuning holds the advanced knobs of a [Config]: every field of [Timing]
// (promoted, so cfg.Tuning.ProbeInterval sets one), where zero keeps the
// profile's value, and the raw memberlist configuration.
type Tuning struct {
	// Timing overrides the profile field by field; zero fields keep the
	// profile's value. Negative durations and counts are invalid, except
	// JoinSyncRounds where a negative value disables join sync.
	Timing

	// Memberlist, when set, is copied and replaces the profile's memberlist
	// settings; the non-zero memberlist fields of Timing are applied on top.
	// Conclave always overwrites these fields of it: Name, Transport,
	// BindAddr, BindPort, AdvertiseAddr, AdvertisePort, Label,
	// SkipInboundLabelCheck, SecretKey, Keyring, Delegate,
	// DelegateProtocolVersion, DelegateProtocolMin, DelegateProtocolMax,
	// Events, Conflict, Merge, Alive, Ping, Logger, LogOutput and
	// DeadNodeReclaimTime.
	Memberlist *memberlist.Config

	// EventCoalescePeriod, when positive, merges bursts of user events of
	// one name: an event is held until no event of its name arrived for
	// EventQuietPeriod, or for at most EventCoalescePeriod, and then only
	// the latest of the burst is delivered (UserEvent.Coalesced counts the
	// events it stands for). Zero delivers every event at once.
	EventCoalescePeriod time.Duration
	// EventQuietPeriod is the quiet time that ends a burst; zero or more than
	// EventCoalescePeriod means EventCoalescePeriod.
	EventQuietPeriod time.Duration

	// MaxStreams bounds the gossip streams (TCP connections: joins, state
	// exchanges, large messages) open at once from other nodes; a stream
	// beyond it is closed at once. Each lasts at most Timing.StreamTimeout.
	// Refusals are counted in [Stats] and logged at most once per 10 s.
	// Default [DefaultMaxStreams].
	MaxStreams int
	// MaxStreamsPerIP bounds those streams from one remote IP address, so
	// that one source cannot take them all. Every process of a cluster on
	// one host shares an address. Default half of MaxStreams; at most
	// MaxStreams.
	MaxStreamsPerIP int
}

// DefaultMaxStreams is the default of Tuning.MaxStreams.
const DefaultMaxStreams = 512

// maxStreamsLimit is the largest Tuning.MaxStreams accepted.
const maxStreamsLimit = 1 << 16

// streamLimits returns MaxStreams and MaxStreamsPerIP with their defaults.
func (t Tuning) streamLimits() (total, perIP int) {
	total = t.MaxStreams
	if total == 0 {
		total = DefaultMaxStreams
	}
	perIP = t.MaxStreamsPerIP
	if perIP == 0 {
		perIP = max(total/2, 1)
	}
	return total, perIP
}

func validateStreamLimits(t Tuning) error {
	total, perIP := t.streamLimits()
	switch {
	case total < 1 || total > maxStreamsLimit:
		return fieldError("Tuning.MaxStreams", t.MaxStreams, "0 (default %d) or 1 to %d", DefaultMaxStreams, maxStreamsLimit)
	case perIP < 1 || perIP > total:
		return fieldError("Tuning.MaxStreamsPerIP", t.MaxStreamsPerIP, "0 (default: half of MaxStreams) or 1 to MaxStreams (%d)", total)
	}
	return nil
}

// withDefaults fills the fields whose zero value means a default.
func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name, _ = os.Hostname()
	}
	if c.BindAddr == "" {
		c.BindAddr = DefaultBindAddr
	}
	return c
}

// clone copies every map and slice of c.
func (c Config) clone() Config {
	c.Tags = maps.Clone(c.Tags)
	c.SystemTags = maps.Clone(c.SystemTags)
	c.Seeds = slices.Clone(c.Seeds)
	keys := make([][]byte, len(c.Keys))
	for i, k := range c.Keys {
		keys[i] = slices.Clone(k)
	}
	c.Keys = keys
	if c.Tuning.Memberlist != nil {
		mc := *c.Tuning.Memberlist
		c.Tuning.Memberlist = &mc
	}
	return c
}

// fieldError returns a [ConfigError] for field given value; allowed is a
// format for args.
func fieldError(field string, value any, allowed string, args ...any) error {
	return errs.Invalid(field, value, allowed, args...)
}

// validate checks every field and returns all problems joined.
func (c Config) validate() error {
	problems := []error{
		validateName(c.Name),
		validateBind(c.BindAddr),
		validateAdvertise(c.AdvertiseAddr),
		validateRole(c.Role),
		validateRPCAddr(c.RPCAddr),
		validateTags("Tags", c.Tags, false),
		validateTags("SystemTags", c.SystemTags, true),
		validateSeeds(c.Seeds),
		validateProfile(c.Profile),
		validateTiming(c.Tuning.Timing),
		validateKeys(c.Keys),
		validateLabel(c.Label),
		validateMemberlist(c.Tuning.Memberlist),
		validateNonNegative("Tuning.EventCoalescePeriod", c.Tuning.EventCoalescePeriod),
		validateNonNegative("Tuning.EventQuietPeriod", c.Tuning.EventQuietPeriod),
		validateStreamLimits(c.Tuning),
	}
	if _, err := c.meta(c.Tags, c.SystemTags).encode(); err != nil {
		problems = append(problems, errs.Wrap("Tags", fmt.Sprintf("%d tags", len(c.Tags)), fmt.Errorf("role, RPCAddr, Tags and SystemTags must encode to at most %d bytes: %w", MetaMaxSize, err)))
	}
	return errors.Join(problems...)
}

// meta returns the metadata c advertises with the given tags.
func (c Config) meta(tags, system map[string]string) nodeMeta {
	all := make(map[string]string, len(tags)+len(system))
	maps.Copy(all, tags)
	maps.Copy(all, system)
	return nodeMeta{Role: c.Role, Protocol: ProtocolVersion, RPCAddr: c.RPCAddr, Tags: all}
}

func validateNonNegative(field string, d time.Duration) error {
	if d < 0 {
		return fieldError(field, d, "zero or more")
	}
	return nil
}

func validateName(name string) error {
	switch {
	case name == "":
		return fieldError("Name", name, "every node needs a name, and the host name is unknown")
	case len(name) > maxNameLen:
		return fieldError("Name", fmt.Sprintf("%d bytes long", len(name)), "at most %d bytes", maxNameLen)
	case !utf8.ValidString(name):
		return fieldError("Name", name, "must be valid UTF-8")
	}
	return nil
}

func validateBind(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fieldError("BindAddr", addr, `want "ip:port" (port 0 picks a free port)`)
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			return fieldError("BindAddr", addr, "the host must be an IP address or empty")
		}
	}
	if _, err := parsePort(port, true); err != nil {
		return fieldError("BindAddr", addr, "%v", err)
	}
	return nil
}

func validateAdvertise(addr string) error {
	if addr == "" {
		return nil
	}
	if _, _, err := splitAdvertise(addr); err != nil {
		return fieldError("AdvertiseAddr", addr, "%v", err)
	}
	return nil
}

// splitAdvertise parses "ip" or "ip:port" (port 0 when absent).
func splitAdvertise(addr string) (netip.Addr, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		host, portStr = strings.Trim(addr, "[]"), "0"
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, 0, errors.New(`want "ip" or "ip:port"`)
	}
	if ip.IsUnspecified() {
		return netip.Addr{}, 0, errors.New("a wildcard address cannot be advertised: give the IP other nodes reach")
	}
	port, err := parsePort(portStr, true)
	if err != nil {
		return netip.Addr{}, 0, err
	}
	return ip.Unmap(), port, nil
}

func parsePort(s string, zeroOK bool) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil || p < 0 || p > 65535 || (p == 0 && !zeroOK) {
		lo := 1
		if zeroOK {
			lo = 0
		}
		return 0, fmt.Errorf("the port must be a number from %d to 65535, got %q", lo, s)
	}
	return p, nil
}

func validateRole(r Role) error {
	if !r.valid() {
		return fieldError("Role", r, "allowed RoleClient or RoleServer")
	}
	return nil
}

func validateRPCAddr(addr string) error {
	if addr == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return fieldError("RPCAddr", addr, `want empty or "host:port"`)
	}
	if _, err := parsePort(port, false); err != nil {
		return fieldError("RPCAddr", addr, "%v", err)
	}
	return nil
}

func validateTags(field string, tags map[string]string, system bool) error {
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		if err := checkTagKey(k, tags[k], system); err != nil {
			return errs.Wrap(field+"["+strconv.Quote(k)+"]", tags[k], err)
		}
	}
	return nil
}

// checkTagKey enforces the reserved-prefix rule for user (system=false) or
// Conclave (system=true) tags.
func checkTagKey(k, v string, system bool) error {
	reserved := strings.HasPrefix(k, ReservedTagPrefix)
	switch {
	case k == "":
		return errors.New("tag keys must not be empty")
	case !utf8.ValidString(k) || !utf8.ValidString(v):
		return fmt.Errorf("tag %q: keys and values must be valid UTF-8", k)
	case system && (!reserved || k == ReservedTagPrefix):
		return fmt.Errorf("key %q must start with %q and name something after it", k, ReservedTagPrefix)
	case !system && reserved:
		return fmt.Errorf("%w: key %q starts with %q, which is reserved for Conclave's own packages", ErrReservedTag, k, ReservedTagPrefix)
	}
	return nil
}

func validateSeeds(seeds []string) error {
	var problems []error
	for i, s := range seeds {
		if _, _, err := splitSeed(s); err != nil {
			problems = append(problems, fieldError(fmt.Sprintf("Seeds[%d]", i), s, "%v", err))
		}
	}
	return errors.Join(problems...)
}

// splitSeed parses "host:port", "host", "ip:port" or "ip" (a bare IPv6
// address too); anything after the port is refused.
func splitSeed(s string) (string, int, error) {
	if s == "" {
		return "", 0, errors.New(`want "host:port" or "host"`)
	}
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		bare := strings.Trim(s, "[]")
		if strings.Contains(bare, ":") {
			if _, perr := netip.ParseAddr(bare); perr != nil {
				return "", 0, fmt.Errorf(`want "host:port" or "host": %v`, err)
			}
		}
		host, portStr = bare, strconv.Itoa(DefaultPort)
	}
	if host == "" || strings.ContainsAny(host, " /") {
		return "", 0, errors.New(`want "host:port" or "host"`)
	}
	port, err := parsePort(portStr, false)
	if err != nil {
		return "", 0, err
	}
	return host, port, nil
}

func validateProfile(p Profile) error {
	if !p.valid() {
		return fieldError("Profile", p, "allowed LAN, Local or WAN")
	}
	return nil
}

func validateTiming(t Timing) error {
	var problems []error
	for _, f := range timingFields(t) {
		if f.v < 0 && f.name != "JoinSyncRounds" {
			problems = append(problems, fieldError("Tuning."+f.name, f.show(), "must not be negative (zero means the profile's value)"))
		}
	}
	return errors.Join(problems...)
}

// namedValue is one Timing field, for validation.
type namedValue struct {
	name string
	v    int64
}

// show formats the value: durations as durations, counts as numbers.
func (n namedValue) show() string {
	if strings.HasSuffix(n.name, "Mult") || strings.HasSuffix(n.name, "Checks") || strings.HasSuffix(n.name, "Nodes") || strings.HasSuffix(n.name, "Rounds") {
		return strconv.FormatInt(n.v, 10)
	}
	return time.Duration(n.v).String()
}

func timingFields(t Timing) []namedValue {
	return []namedValue{
		{"ProbeInterval", int64(t.ProbeInterval)}, {"ProbeTimeout", int64(t.ProbeTimeout)},
		{"SuspicionMult", int64(t.SuspicionMult)}, {"SuspicionMaxTimeoutMult", int64(t.SuspicionMaxTimeoutMult)},
		{"IndirectChecks", int64(t.IndirectChecks)}, {"GossipInterval", int64(t.GossipInterval)},
		{"GossipNodes", int64(t.GossipNodes)}, {"GossipToTheDeadTime", int64(t.GossipToTheDeadTime)},
		{"RetransmitMult", int64(t.RetransmitMult)}, {"PushPullInterval", int64(t.PushPullInterval)},
		{"StreamTimeout", int64(t.StreamTimeout)}, {"RejoinInterval", int64(t.RejoinInterval)},
		{"ReconnectInterval", int64(t.ReconnectInterval)}, {"ReconnectTimeout", int64(t.ReconnectTimeout)},
		{"TombstoneTimeout", int64(t.TombstoneTimeout)}, {"ReapInterval", int64(t.ReapInterval)},
		{"JoinSyncRounds", int64(t.JoinSyncRounds)}, {"JoinSyncInterval", int64(t.JoinSyncInterval)},
		{"LeavePropagateDelay", int64(t.LeavePropagateDelay)},
	}
}

func validateKeys(keys [][]byte) error {
	for i, k := range keys {
		if err := memberlist.ValidateKey(k); err != nil {
			return fieldError(fmt.Sprintf("Keys[%d]", i), fmt.Sprintf("%d bytes long", len(k)), "allowed 16, 24 or 32 bytes (AES-128/192/256)")
		}
		for j := range i {
			if string(keys[j]) == string(k) {
				return fieldError(fmt.Sprintf("Keys[%d]", i), "a duplicate", "remove the copy of Keys[%d]", j)
			}
		}
	}
	return nil
}

func validateLabel(label string) error {
	if len(label) > memberlist.LabelMaxSize {
		return fieldError("Label", fmt.Sprintf("%d bytes long", len(label)), "at most %d bytes", memberlist.LabelMaxSize)
	}
	return nil
}

func validateMemberlist(mc *memberlist.Config) error {
	if mc == nil {
		return nil
	}
	switch {
	case mc.ProtocolVersion < memberlist.ProtocolVersionMin || mc.ProtocolVersion > memberlist.ProtocolVersionMax:
		return fieldError("Tuning.Memberlist.ProtocolVersion", mc.ProtocolVersion, "allowed %d to %d",
			memberlist.ProtocolVersionMin, memberlist.ProtocolVersionMax)
	case mc.UDPBufferSize <= 0:
		return fieldError("Tuning.Memberlist.UDPBufferSize", mc.UDPBufferSize, "must be positive")
	case mc.HandoffQueueDepth <= 0:
		return fieldError("Tuning.Memberlist.HandoffQueueDepth", mc.HandoffQueueDepth, "must be positive")
	case mc.QueueCheckInterval <= 0:
		return fieldError("Tuning.Memberlist.QueueCheckInterval", mc.QueueCheckInterval, "must be positive")
	}
	return nil
}

// validateEffective checks the final timing, after the profile, the escape
// hatch and the overrides were combined.
func validateEffective(t Timing) error {
	mustBePositive := map[string]bool{
		"ProbeInterval": true, "ProbeTimeout": true, "GossipInterval": true, "StreamTimeout": true,
		"GossipNodes": true, "SuspicionMult": true, "RejoinInterval": true, "ReconnectInterval": true,
		"ReconnectTimeout": true, "TombstoneTimeout": true, "ReapInterval": true, "JoinSyncInterval": true,
	}
	for _, f := range timingFields(t) {
		if mustBePositive[f.name] && f.v <= 0 {
			return fieldError("Tuning."+f.name, f.show(), "must be positive after the profile and Tuning.Memberlist are applied")
		}
	}
	return nil
}
