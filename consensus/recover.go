package consensus

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/raft"
	"go.etcd.io/bbolt"

	"github.com/conclave-go/conclave/internal/logadapt"
)

var (
	// ErrDataDirInUse is returned by [Recover] when another process, or a
	// running [Node] of this one, holds the data directory's log store.
	ErrDataDirInUse = errors.New("consensus: data dir in use")
	// ErrNoState is returned by [Recover] for a data directory that holds no
	// Raft state: there is nothing to recover, and a fresh server is
	// bootstrapped, not recovered.
	ErrNoState = errors.New("consensus: data dir holds no raft state")
)

// Recover rewrites the Raft configuration held in the data directory of a
// stopped server, for when a group has lost its quorum for good: the servers
// that remain cannot elect a leader because too many voters will never come
// back. It is hashicorp/raft's RecoverCluster (Consul's peers.json) applied
// to cfg.DataDir.
//
// cfg is the configuration the server runs with: Recover uses its Name,
// DataDir, LogStore, StateMachine (a fresh instance: the snapshot and the
// log are replayed into it, then a new snapshot is taken from it), Logger
// and Tuning. servers is the new configuration; it must include cfg.Name,
// with the address the server will be reachable at. Run Recover with the
// same servers on every survivor, then start them: they elect a leader among
// themselves, keeping every entry a survivor holds, including entries that
// were never committed. Servers that join later are added as usual.
//
// Recover refuses with [ErrDataDirInUse] when the directory is open (it
// waits about two seconds for the lock; detected for the default store
// only), with [ErrNoState] when it holds no Raft state, and with an error
// naming the cause when the store or a snapshot cannot be read. It changes
// nothing in those cases.
func Recover(cfg Config, servers []Server) error {
	cfg = cfg.withDefaults()
	if err := cfg.validateRecover(); err != nil {
		return err
	}
	cfg.Logger = logadapt.OrDiscard(cfg.Logger).With("node", cfg.Name)
	conf, err := recoverConfiguration(cfg.Name, servers)
	if err != nil {
		return err
	}
	if err := checkRecoverDir(cfg); err != nil {
		return err
	}
	rc := cfg.raftConfig()
	store, err := openStorage(cfg, rc.Logger)
	if err != nil {
		if errors.Is(err, bbolt.ErrTimeout) {
			return fmt.Errorf("%w: %s is locked by a running server; stop it before recovering (%v)", ErrDataDirInUse, cfg.DataDir, err)
		}
		return fmt.Errorf("consensus: recover: the store in %s is unreadable: %w", cfg.DataDir, err)
	}
	defer store.close()
	if has, err := store.hasState(); err != nil {
		return fmt.Errorf("consensus: recover: the store in %s is unreadable: %w", cfg.DataDir, err)
	} else if !has {
		return fmt.Errorf("%w: %s (start the server without recovering: it bootstraps or is added to the group)", ErrNoState, cfg.DataDir)
	}
	f := newFSM(cfg.StateMachine, cfg.Logger)
	last, err := store.logs.LastIndex()
	if err != nil {
		return fmt.Errorf("consensus: recover: the store in %s is unreadable: %w", cfg.DataDir, err)
	}
	_, trans := raft.NewInmemTransport("")
	defer trans.Close()
	if err := raft.RecoverCluster(rc, recoverFSM{f, last}, store.logs, store.stable, store.snaps, trans, conf); err != nil {
		return fmt.Errorf("consensus: recover %s: %w", cfg.DataDir, err)
	}
	cfg.Logger.Info("recovered the raft configuration from the data directory", "dir", cfg.DataDir, "servers", fmt.Sprintf("%+v", servers))
	return nil
}

// validateRecover checks the fields Recover uses.
func (c Config) validateRecover() error {
	var problems []error
	problems = append(problems, c.validateIdentity(), c.validateStorage(), c.validateTuning())
	if c.InMemory {
		problems = append(problems, configError("InMemory", true, "must be false: an in-memory group has nothing to recover"))
	}
	return errors.Join(problems...)
}

// checkRecoverDir refuses a data directory that does not exist or holds no
// log store record, before anything is created in it.
func checkRecoverDir(cfg Config) error {
	st, err := os.Stat(cfg.DataDir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w: %s does not exist", ErrNoState, cfg.DataDir)
	case err != nil:
		return fmt.Errorf("consensus: recover: %w", err)
	case !st.IsDir():
		return fmt.Errorf("consensus: recover: %s is not a directory", cfg.DataDir)
	}
	name, err := recordedLogStore(cfg.DataDir)
	if err != nil {
		return err
	}
	if name == "" {
		return fmt.Errorf("%w: %s has no %s record", ErrNoState, cfg.DataDir, filepath.Join(cfg.DataDir, logStoreFile))
	}
	_, err = checkLogStore(cfg.DataDir, cfg.LogStore)
	return err
}

// recoverConfiguration builds the new configuration: servers, which must
// include self and hold at least one voter.
func recoverConfiguration(self string, servers []Server) (raft.Configuration, error) {
	if len(servers) == 0 {
		return raft.Configuration{}, errors.New("consensus: recover: no servers given: list at least this server")
	}
	conf, err := bootstrapConfiguration(self, servers)
	if err != nil {
		return conf, errors.New("consensus: recover: " + strings.TrimPrefix(err.Error(), "consensus: bootstrap: "))
	}
	for _, s := range conf.Servers {
		if s.ID == raft.ServerID(self) && s.Suffrage != raft.Voter {
			return conf, fmt.Errorf("consensus: recover: this server (%q) must be a voter", self)
		}
	}
	return conf, nil
}

// recoverFSM is the adapter RecoverCluster replays into. Configuration and
// no-op entries do not reach it, so before the new snapshot is taken the
// applied index is moved to the last entry replayed: the snapshot then
// records the index its raft metadata carries.
type recoverFSM struct {
	*fsm
	last uint64
}

func (r recoverFSM) Restore(rc io.ReadCloser) error { return r.fsm.Restore(rc) }

func (r recoverFSM) Snapshot() (raft.FSMSnapshot, error) {
	if r.appliedIndex() < r.last {
		r.setApplied(r.last)
	}
	return r.fsm.Snapshot()
}
