package clustertest

import (
	"log/slog"
	"time"

	"github.com/conclave-go/conclave/cluster"
	"github.com/conclave-go/conclave/consensus"
)

// Option configures a [Cluster] built by [New] or [Start].
type Option func(*settings)

// settings are the options after defaults.
type settings struct {
	newSM     func() consensus.StateMachine
	servers   int // -1: every node
	profile   cluster.Profile
	inMemory  bool
	seed      int64
	seedSet   bool
	logger    *slog.Logger
	configure []func(int, *cluster.Config)
	timeout   time.Duration
	sample    time.Duration
}

func defaultSettings() settings {
	return settings{
		newSM:   func() consensus.StateMachine { return NewKV() },
		servers: -1,
		profile: cluster.ProfileLocal,
		timeout: 30 * time.Second,
		sample:  20 * time.Millisecond,
	}
}

// WithStateMachine sets the factory of each server's state machine. It is
// called once per server start, restarts included: a restarted server gets
// a fresh instance and rebuilds it from its snapshot and log. The default is
// [NewKV].
func WithStateMachine(newSM func() consensus.StateMachine) Option {
	return func(s *settings) { s.newSM = newSM }
}

// WithServers makes the first k nodes servers and the rest clients
// (membership only; their writes and queries go to the servers). The
// servers bootstrap together with BootstrapExpect k. The default is every
// node a server.
func WithServers(k int) Option {
	return func(s *settings) { s.servers = k }
}

// WithProfile sets the timing profile of every node. The default is
// [cluster.ProfileLocal], the fast one.
func WithProfile(p cluster.Profile) Option {
	return func(s *settings) { s.profile = p }
}

// WithInMemory keeps Raft state in memory instead of bolt files in each
// node's data dir. Faster, but a restarted server comes back empty, as if
// its disk had been replaced: Raft's guarantees assume durable state, so
// use the default (on disk) for crash tests.
func WithInMemory() Option {
	return func(s *settings) { s.inMemory = true }
}

// WithSeed seeds the fault network's loss and jitter decisions and
// [Cluster.Rand]. Without it the seed comes from the CONCLAVE_SEED
// environment variable, or is random; either way it is logged, so a failing
// run can be repeated.
func WithSeed(seed int64) Option {
	return func(s *settings) { s.seed, s.seedSet = seed, true }
}

// WithLogger sends the nodes' logs (gossip's and Raft's included), the fault
// network's and the harness's own to l. Without it nodes log nothing; the
// harness logs its faults through the test's Logf ([New]) or not at all
// ([Start]).
func WithLogger(l *slog.Logger) Option {
	return func(s *settings) { s.logger = l }
}

// WithConfig lets fn adjust node i's configuration before each start of
// that node (restarts included), after the harness filled it in. The
// harness relies on Name, the addresses, Network and Consensus.DataDir:
// change them only if you mean to.
func WithConfig(fn func(i int, cfg *cluster.Config)) Option {
	return func(s *settings) { s.configure = append(s.configure, fn) }
}

// WithTimeout bounds every Wait method and every start or stop of a node.
// The default is 30s; waits return as soon as their condition holds.
func WithTimeout(d time.Duration) Option {
	return func(s *settings) { s.timeout = d }
}
