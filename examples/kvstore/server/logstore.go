package server

import (
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/conclave-go/conclave/consensus"
)

// Option changes what Run offers; see WithLogStore.
type Option func(*logStores)

// LogStoreFunc returns the Raft log store of a node. logger is the node's
// logger, for the store's own logs.
type LogStoreFunc func(logger *slog.Logger) consensus.LogStoreConfig

// WithLogStore offers name as a value of -log-store: a node started with
// -log-store name keeps its Raft log and stable store in the store that
// store returns (consensus.LogStoreConfig). bolt, the default, is always
// offered. name is 1 to 32 bytes of a-z, 0-9 and '-', not "bolt", and given
// once; Run returns an error for a bad one before parsing the command line.
func WithLogStore(name string, store LogStoreFunc) Option {
	return func(s *logStores) { s.add(name, store) }
}

// boltStore is the -log-store value of Conclave's default store, and the
// name a data directory on it records.
const boltStore = "bolt"

// otherBuild is a -log-store value this build may lack: the store the data
// directory records and how to get a kvstore that offers it.
type otherBuild struct {
	recorded string
	build    string
}

// otherBuilds are the stores that live in modules of their own, away from
// Conclave's main module.
var otherBuilds = map[string]otherBuild{
	"wal": {
		recorded: "raft-wal",
		build: "use the kvstore of the raftwal module (github.com/conclave-go/conclave/raftwal/cmd/kvstore) with the same flags, " +
			"built from the repository root with: (cd raftwal && go build -o kvstore-wal ./cmd/kvstore)",
	},
}

// logStores are the -log-store values of one build: bolt and those given
// with WithLogStore, in that order.
type logStores struct {
	names []string
	funcs map[string]LogStoreFunc
	err   error // the first bad WithLogStore
}

func newLogStores(opts []Option) *logStores {
	s := &logStores{names: []string{boltStore}, funcs: map[string]LogStoreFunc{}}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

func (s *logStores) add(name string, store LogStoreFunc) {
	var why string
	switch {
	case !validStoreName(name):
		why = "the name must be 1 to 32 bytes of a-z, 0-9 and '-'"
	case name == boltStore:
		why = "bolt is the default store, always offered"
	case slices.Contains(s.names, name):
		why = "the name is given twice"
	case store == nil:
		why = "the store function is nil"
	}
	if why != "" {
		if s.err == nil {
			s.err = fmt.Errorf("kvstore: WithLogStore(%q): %s", name, why)
		}
		return
	}
	s.names = append(s.names, name)
	s.funcs[name] = store
}

func validStoreName(name string) bool {
	if name == "" || len(name) > 32 {
		return false
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}

// usage is the help text of -log-store.
func (s *logStores) usage() string {
	return "Raft log `store`: " + s.choices()
}

// choices lists the values offered, and those another build offers.
func (s *logStores) choices() string {
	text := strings.Join(s.names, ", ")
	for _, name := range slices.Sorted(maps.Keys(otherBuilds)) {
		if s.funcs[name] == nil {
			text += fmt.Sprintf(" (%s: in the kvstore of the raftwal module, raftwal/cmd/kvstore)", name)
		}
	}
	return text
}

// lookup returns the store -log-store name selects: nil for bolt.
func (s *logStores) lookup(name string) (LogStoreFunc, error) {
	if name == boltStore {
		return nil, nil
	}
	if f, ok := s.funcs[name]; ok {
		return f, nil
	}
	if other, ok := otherBuilds[name]; ok {
		return nil, usagef("-log-store %s: this kvstore is built without %s, which stays out of Conclave's main module: %s",
			name, other.recorded, other.build)
	}
	return nil, usagef("-log-store: %q is not one of %s", name, s.choices())
}

// logStoreConfig returns the consensus setting of -log-store: the zero value for
// bolt.
func (o options) logStoreConfig(logger *slog.Logger) consensus.LogStoreConfig {
	if o.logStoreFunc == nil {
		return consensus.LogStoreConfig{}
	}
	return o.logStoreFunc(logger)
}

// mismatch explains err, consensus.ErrLogStoreMismatch for -data, in terms
// of -log-store: which value the directory was created with and what to do.
func (s *logStores) mismatch(o options, err error) error {
	have, known := s.valueOf(recordedStore(o.dataDir))
	if !known {
		return fmt.Errorf("-log-store %s: %w", o.logStore, err)
	}
	msg := fmt.Sprintf("-log-store %s: %s was created with -log-store %s and keeps that store: "+
		"start the node with -log-store %s, or move its log to %s with consensus.MigrateLogStore while the node is stopped "+
		"(see the kvstore README, \"Log store\")", o.logStore, o.dataDir, have, have, o.logStore)
	if other, ok := otherBuilds[have]; ok && s.funcs[have] == nil {
		msg += fmt.Sprintf("; this kvstore is built without %s: %s", have, other.build)
	}
	return &mismatchError{msg: msg, err: err}
}

// mismatchError is consensus.ErrLogStoreMismatch told in the kvstore's
// terms.
type mismatchError struct {
	msg string
	err error
}

func (e *mismatchError) Error() string { return e.msg }
func (e *mismatchError) Unwrap() error { return e.err }

// recordedStore returns the name of the log store dir records (consensus
// keeps it in dir/logstore), or "" when it cannot be read.
func recordedStore(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "logstore"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// valueOf returns the -log-store value whose store records the name
// recorded, in this build or another.
func (s *logStores) valueOf(recorded string) (string, bool) {
	if recorded == boltStore {
		return boltStore, true
	}
	for name, f := range s.funcs {
		if f(slog.New(slog.DiscardHandler)).Name == recorded {
			return name, true
		}
	}
	for name, other := range otherBuilds {
		if other.recorded == recorded {
			return name, true
		}
	}
	return "", false
}
