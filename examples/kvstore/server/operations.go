package server

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/conclave-go/conclave/cluster"
	"github.com/conclave-go/conclave/consensus"
)

// operations are the flags that save a cluster: outage recovery and a fresh
// cluster seeded from a backup.
type operations struct {
	recoverList string // -recover name=raft-addr,...
	recoverSelf bool   // -recover-self
	restoreFile string // -restore file
}

// restoreWait bounds the wait for a fresh -restore node to lead.
const restoreWait = time.Minute

func (ops *operations) flags(fs *flag.FlagSet) {
	fs.StringVar(&ops.recoverList, "recover", "",
		"after losing quorum for good: rewrite the Raft configuration in -data to these `servers` (name=raft-addr,...; "+
			"must include this node) before starting; give the same list to every survivor")
	fs.BoolVar(&ops.recoverSelf, "recover-self", false,
		"after losing quorum for good: make this node the only voter (as -recover NAME=RAFT-ADDR) before starting")
	fs.StringVar(&ops.restoreFile, "restore", "",
		"start a fresh cluster from a backup `file` (from GET /cluster/snapshot); needs an empty -data and -bootstrap-expect 1")
}

func (ops operations) validate(o options) error {
	n := 0
	for _, set := range []bool{ops.recoverList != "", ops.recoverSelf, ops.restoreFile != ""} {
		if set {
			n++
		}
	}
	if n > 1 {
		return usagef("-recover, -recover-self and -restore exclude each other")
	}
	if ops.restoreFile != "" && o.bootstrapExpect != 1 {
		return usagef("-restore: seeds a fresh cluster from its first server: give -bootstrap-expect 1, then join the other servers to it")
	}
	if ops.recoverList != "" || ops.recoverSelf {
		if _, err := ops.servers(o); err != nil {
			return err
		}
	}
	return nil
}

// servers parses the -recover list, or builds -recover-self's.
func (ops operations) servers(o options) ([]consensus.Server, error) {
	if ops.recoverSelf {
		addr := o.raftAddr
		if adv := o.raftAdvertise(); adv != "" {
			host, port, err := net.SplitHostPort(adv)
			if err != nil {
				host = adv
			}
			if port == "" || port == "0" {
				_, port, _ = net.SplitHostPort(o.raftAddr)
			}
			addr = net.JoinHostPort(host, port)
		}
		host, _, _ := net.SplitHostPort(addr)
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			return nil, usagef("-recover-self: -raft %s is not an address other servers can dial; use -recover %s=HOST:PORT", addr, o.name)
		}
		return []consensus.Server{{Name: o.name, Addr: addr}}, nil
	}
	var out []consensus.Server
	seen := map[string]bool{}
	for _, item := range splitList(ops.recoverList) {
		name, addr, ok := strings.Cut(item, "=")
		if !ok || name == "" {
			return nil, usagef("-recover: %q is not name=host:port", item)
		}
		if err := checkHostPort(addr); err != nil {
			return nil, usagef("-recover: %s: %v", name, err)
		}
		if seen[name] {
			return nil, usagef("-recover: %s listed twice", name)
		}
		seen[name] = true
		out = append(out, consensus.Server{Name: name, Addr: addr})
	}
	if !seen[o.name] {
		return nil, usagef("-recover: the list must include this node (%s=%s)", o.name, o.raftAddr)
	}
	return out, nil
}

// prepare runs before the node starts: the outage recovery, or the checks
// of -restore (the file is intact, the data dir empty). It reports whether
// the data dir was empty.
func (ops operations) prepare(o options, cfg cluster.Config, logger *slog.Logger) (fresh bool, err error) {
	fresh, err = emptyDir(o.dataDir)
	if err != nil {
		return false, err
	}
	switch {
	case ops.recoverList != "" || ops.recoverSelf:
		servers, err := ops.servers(o)
		if err != nil {
			return false, err
		}
		if err := cluster.Recover(cfg, servers); err != nil {
			return false, fmt.Errorf("-recover: %w", err)
		}
		logger.Warn("recovered the Raft configuration: remove -recover/-recover-self before the next restart", "servers", fmt.Sprint(servers))
	case ops.restoreFile != "":
		if !fresh {
			return false, fmt.Errorf("-restore: %s already holds data: -restore only seeds a fresh cluster "+
				"(restore a running one with POST /cluster/restore)", o.dataDir)
		}
		info, err := verifyFile(ops.restoreFile)
		if err != nil {
			return false, fmt.Errorf("-restore: %w", err)
		}
		logger.Info("backup verified", "file", ops.restoreFile, "index", info.Index, "term", info.Term, "bytes", info.Size)
	}
	return fresh, nil
}

// restoreFresh restores -restore's file into the fresh cluster this node
// has just bootstrapped, once it leads.
func (ops operations) restoreFresh(ctx context.Context, o options, node *cluster.Node, fresh bool, logger *slog.Logger) error {
	if ops.restoreFile == "" || !fresh {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, restoreWait)
	defer cancel()
	if err := node.WaitReady(ctx); err != nil {
		return fmt.Errorf("-restore: the new cluster did not elect this node: %w", err)
	}
	f, err := os.Open(ops.restoreFile)
	if err != nil {
		return fmt.Errorf("-restore: %w", err)
	}
	defer f.Close()
	if err := node.Restore(ctx, f); err != nil {
		return fmt.Errorf("-restore: %w (empty %s before trying again)", err, o.dataDir)
	}
	logger.Info("restored the backup", "file", ops.restoreFile)
	return nil
}

// verifyFile checks a backup file in full.
func verifyFile(path string) (consensus.SnapshotInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return consensus.SnapshotInfo{}, err
	}
	defer f.Close()
	return consensus.VerifySnapshot(f)
}

// emptyDir reports whether dir is missing or empty.
func emptyDir(dir string) (bool, error) {
	d, err := os.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	defer d.Close()
	_, err = d.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	return false, err
}
