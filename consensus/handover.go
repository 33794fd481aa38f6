package consensus

import (
	"context"
	"time"

	"github.com/hashicorp/raft"
)

// handOverOnClose hands leadership over before a leader closes, bounded by
// one election timeout. It does nothing on a follower, on a node not started
// or already closing, and on the group's only voter.
func (n *Node) handOverOnClose() {
	if n.usable() != nil || n.raft.State() != raft.Leader || !n.hasOtherVoter() {
		return
	}
	bound := n.cfg.raftConfig().ElectionTimeout
	ctx, cancel := context.WithTimeout(n.baseCtx, bound)
	defer cancel()
	start := time.Now()
	n.handOff(ctx)
	if n.raft.State() == raft.Leader {
		n.logger.Warn("close: no other server took over leadership; closing as leader",
			"waited", time.Since(start).Round(time.Millisecond))
		return
	}
	n.logger.Info("close: handed leadership over", "took", time.Since(start).Round(time.Millisecond),
		"leader", n.Leader().Name)
}

// hasOtherVoter reports whether the latest configuration holds a voter
// other than this server.
func (n *Node) hasOtherVoter() bool {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter && string(s.ID) != n.cfg.Name {
			return true
		}
	}
	return false
}
