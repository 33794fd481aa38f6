package consensus

import (
	"sync"

	"github.com/hashicorp/raft"
)

// removedPeers records the servers this node, as leader, stopped
// replicating to because they left the configuration. Raft's last attempts
// to reach such a server race with it closing; raftDemotions logs their
// failures at Debug.
type removedPeers struct {
	mu    sync.Mutex
	addrs map[raft.ServerAddress]struct{} // guarded by mu
}

// observe records o; raft calls it from its leader loop, before the
// removal can commit, so before the removed server can close.
func (p *removedPeers) observe(o raft.PeerObservation) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !o.Removed {
		delete(p.addrs, o.Peer.Address)
		return
	}
	if p.addrs == nil {
		p.addrs = make(map[raft.ServerAddress]struct{})
	}
	p.addrs[o.Peer.Address] = struct{}{}
}

// has reports whether the server at addr was removed and not added back.
func (p *removedPeers) has(addr string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.addrs[raft.ServerAddress(addr)]
	return ok
}
