package consensus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
)

// Suffrage is a server's role in the configuration.
type Suffrage uint8

const (
	// Voter servers vote in elections and count towards the commit quorum.
	Voter Suffrage = iota
	// NonVoter servers receive the log but neither vote nor count towards
	// quorums.
	NonVoter
)

// String returns the suffrage's name.
func (s Suffrage) String() string {
	switch s {
	case Voter:
		return "voter"
	case NonVoter:
		return "nonvoter"
	default:
		return "suffrage(" + strconv.Itoa(int(s)) + ")"
	}
}

// Server is one member of the Raft configuration.
type Server struct {
	Name     string
	Addr     string
	Suffrage Suffrage
}

// Configuration returns the latest Raft configuration this node knows of,
// which may not be committed yet. It does not block; ctx is reserved.
func (n *Node) Configuration(ctx context.Context) ([]Server, error) {
	if err := n.usable(); err != nil {
		return nil, err
	}
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, err
	}
	servers := make([]Server, 0, len(f.Configuration().Servers))
	for _, s := range f.Configuration().Servers {
		suffrage := Voter
		if s.Suffrage != raft.Voter {
			suffrage = NonVoter
		}
		servers = append(servers, Server{Name: string(s.ID), Addr: string(s.Address), Suffrage: suffrage})
	}
	return servers, nil
}

// AddVoter adds the server id at addr as a voter, promotes it when it is a
// non-voter, or updates its address when it is already a voter. It may be
// called on any server (it is forwarded to the leader) and returns once the
// new configuration is committed. Membership changes are idempotent: one
// whose answer is lost when the leader changes is asked again of the new
// leader, and one that failed with [ErrOutcomeUnknown] may simply be
// retried.
func (n *Node) AddVoter(ctx context.Context, id, addr string) error {
	return n.changeMembership(ctx, changeRequest{op: opAddVoter, id: id, addr: addr})
}

// AddNonVoter adds the server id at addr as a non-voter, or updates its
// address when it is already in the configuration (a voter stays a voter).
// See [Node.AddVoter].
func (n *Node) AddNonVoter(ctx context.Context, id, addr string) error {
	return n.changeMembership(ctx, changeRequest{op: opAddNonVoter, id: id, addr: addr})
}

// Promote makes the non-voter id a voter, at its current address. It returns
// [ErrUnknownServer] when id is not in the configuration.
func (n *Node) Promote(ctx context.Context, id string) error {
	s, err := n.findServer(ctx, id)
	if err != nil {
		return err
	}
	if s.Suffrage == Voter {
		return nil
	}
	return n.AddVoter(ctx, id, s.Addr)
}

// Demote makes the voter id a non-voter. See [Node.AddVoter].
func (n *Node) Demote(ctx context.Context, id string) error {
	return n.changeMembership(ctx, changeRequest{op: opDemote, id: id})
}

// RemoveServer removes id from the configuration. Removing an absent server
// succeeds. See [Node.AddVoter].
func (n *Node) RemoveServer(ctx context.Context, id string) error {
	return n.changeMembership(ctx, changeRequest{op: opRemove, id: id})
}

// LeadershipTransfer asks the leader to hand leadership to the most
// up-to-date voter and returns once the transfer is done. It may be called on
// any server. When the answer is lost as leadership moves, the call succeeds
// once another leader is known (the one asked for, with
// [Node.LeadershipTransferTo]); it is never sent twice.
func (n *Node) LeadershipTransfer(ctx context.Context) error {
	return n.changeMembership(ctx, changeRequest{op: opTransfer})
}

// LeadershipTransferTo asks the leader to hand leadership to the voter id.
func (n *Node) LeadershipTransferTo(ctx context.Context, id string) error {
	s, err := n.findServer(ctx, id)
	if err != nil {
		return err
	}
	return n.changeMembership(ctx, changeRequest{op: opTransfer, id: id, addr: s.Addr})
}

func (n *Node) findServer(ctx context.Context, id string) (Server, error) {
	servers, err := n.Configuration(ctx)
	if err != nil {
		return Server{}, err
	}
	for _, s := range servers {
		if s.Name == id {
			return s, nil
		}
	}
	return Server{}, fmt.Errorf("%w: %q", ErrUnknownServer, id)
}

func (n *Node) changeMembership(ctx context.Context, m changeRequest) error {
	if err := n.usable(); err != nil {
		return err
	}
	if err := m.validate(); err != nil {
		return err
	}
	var unknown error // an attempt whose outcome is unknown
	err := retryLoop(ctx, n.closing, n.lead.changedCh, func() error {
		from := n.Leader().Addr
		err := n.changeOnce(ctx, m, true)
		if !errors.Is(err, ErrOutcomeUnknown) || ctx.Err() != nil {
			return err
		}
		if m.op == opTransfer { // not idempotent: see where leadership went
			if n.transferred(ctx, from, m.id) {
				return nil
			}
			return err
		}
		unknown = err // the leader changed under the call: ask the new one
		return retryable(err)
	})
	if err != nil && unknown != nil && !errors.Is(err, ErrOutcomeUnknown) {
		return unknown // an earlier attempt may have run
	}
	return err
}

// transferred waits, until ctx ends, for a leader other than the one at
// from, and reports whether leadership went where a transfer asked (to id,
// or anywhere when id is empty): the transfer whose answer was lost is done.
func (n *Node) transferred(ctx context.Context, from, id string) bool {
	for {
		wake := n.lead.changedCh()
		if l := n.Leader(); l.Addr != "" && l.Addr != from {
			return id == "" || l.Name == id
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return false
		case <-n.closing:
			return false
		}
	}
}

// validate checks a change's arguments against what the wire carries.
func (m changeRequest) validate() error {
	if m.id == "" && m.op != opTransfer {
		return fmt.Errorf("consensus: %v: empty server ID", m.op)
	}
	if len(m.id) > maxIDLen || len(m.addr) > maxIDLen {
		return fmt.Errorf("consensus: %v: server ID and address are limited to %d bytes", m.op, maxIDLen)
	}
	if (m.op == opAddVoter || m.op == opAddNonVoter) && m.addr == "" {
		return fmt.Errorf("consensus: %v: empty address", m.op)
	}
	return nil
}

// changeOnce applies a change on the leader, or forwards it when mayForward.
func (n *Node) changeOnce(ctx context.Context, m changeRequest, mayForward bool) error {
	if n.raft.State() == raft.Leader {
		return n.changeLocal(ctx, m)
	}
	if !mayForward {
		return retryable(n.notLeader())
	}
	addr, err := n.leaderAddr()
	if err != nil {
		return err
	}
	m.forwarded = true
	return n.remote.change(ctx, addr, m)
}

// changeLocal runs a change through raft on the leader.
func (n *Node) changeLocal(ctx context.Context, m changeRequest) error {
	if !n.beginInflight() {
		return ErrClosed
	}
	f := n.changeFuture(ctx, m)
	done := make(chan error, 1)
	go func() {
		defer n.inflight.Done()
		done <- f.Error()
	}()
	select {
	case err := <-done:
		return changeError(m, err)
	case <-ctx.Done():
		return outcomeUnknown(ctx.Err())
	case <-n.raftDown:
		return outcomeUnknown(ErrClosed)
	}
}

func (n *Node) changeFuture(ctx context.Context, m changeRequest) raft.Future {
	id, addr, timeout := raft.ServerID(m.id), raft.ServerAddress(m.addr), enqueueTimeout(ctx)
	switch m.op {
	case opAddVoter:
		return n.raft.AddVoter(id, addr, 0, timeout)
	case opAddNonVoter:
		return n.raft.AddNonvoter(id, addr, 0, timeout)
	case opDemote:
		return n.raft.DemoteVoter(id, 0, timeout)
	case opRemove:
		return n.raft.RemoveServer(id, 0, timeout)
	default:
		if m.id == "" {
			return n.raft.LeadershipTransfer()
		}
		return n.raft.LeadershipTransferToServer(id, addr)
	}
}

// changeError classifies the result of a membership change future.
func changeError(m changeRequest, err error) error {
	if err == nil {
		return nil
	}
	if m.op == opTransfer && !errors.Is(err, raft.ErrNotLeader) && !errors.Is(err, raft.ErrRaftShutdown) {
		// A failed transfer leaves the leader in place: report it as is.
		return fmt.Errorf("consensus: leadership transfer: %w", err)
	}
	return raftApplyError(err)
}

// Leave removes this server from the group and closes the node. A leader
// first hands leadership to another voter; then the node asks the leader to
// remove it and waits until the removal is committed. The last voter of a
// group cannot leave this way: it only closes. Close is called in every
// case; Leave returns the first error.
func (n *Node) Leave(ctx context.Context) error {
	err := n.leave(ctx)
	if cerr := n.Close(); err == nil {
		err = cerr
	}
	return err
}

func (n *Node) leave(ctx context.Context) error {
	if err := n.usable(); err != nil {
		return err
	}
	servers, err := n.Configuration(ctx)
	if err != nil {
		return err
	}
	member, others := false, 0
	for _, s := range servers {
		if s.Name == n.cfg.Name {
			member = true
		} else if s.Suffrage == Voter {
			others++
		}
	}
	if !member {
		return nil
	}
	if others == 0 {
		n.logger.Warn("leave: last voter of the group, closing without removal")
		return nil
	}
	if n.raft.State() == raft.Leader {
		n.handOff(ctx)
	}
	// Removal is idempotent: retry it even when an attempt's outcome is
	// unknown, until it is confirmed or ctx ends.
	for {
		err := n.changeMembership(ctx, changeRequest{op: opRemove, id: n.cfg.Name})
		if err == nil || !errors.Is(err, ErrOutcomeUnknown) || ctx.Err() != nil {
			return err
		}
		n.logger.Debug("leave: removal outcome unknown, retrying", "error", err)
	}
}

// handOff transfers leadership away and waits until another server leads.
// On failure the leader removes itself, which raft also permits.
func (n *Node) handOff(ctx context.Context) {
	if err := n.changeLocal(ctx, changeRequest{op: opTransfer}); err != nil {
		n.logger.Warn("leave: leadership transfer failed; the leader removes itself", "error", err)
		return
	}
	for n.raft.State() == raft.Leader {
		t := time.NewTimer(retryMaxDelay)
		select {
		case <-n.lead.changedCh():
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
		t.Stop()
	}
}
