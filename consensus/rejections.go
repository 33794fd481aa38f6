package consensus

import (
	"sync"
	"time"
)

// LogRejections counts the replication requests a server refused from this
// node as leader because its log did not match (raft then sends older
// entries). A follower catching up refuses a few and then accepts; one that
// keeps refusing while it applies nothing has a log that no longer matches
// the leader's, and must be restored from its peers.
type LogRejections struct {
	// Count is the number of refusals since this node started; Next the
	// index the leader sends from after the latest, at Last.
	Count uint64
	Next  uint64
	Last  time.Time
}

// maxRejectionPeers bounds the servers tracked (a group has few).
const maxRejectionPeers = 256

// rejectionLog records LogRejections by server address.
type rejectionLog struct {
	mu    sync.Mutex // guards peers
	peers map[string]LogRejections
}

func (l *rejectionLog) note(addr string, next uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.peers == nil {
		l.peers = make(map[string]LogRejections)
	}
	if _, ok := l.peers[addr]; !ok && len(l.peers) >= maxRejectionPeers {
		clear(l.peers)
	}
	r := l.peers[addr]
	r.Count++
	r.Next, r.Last = next, time.Now()
	l.peers[addr] = r
}

func (l *rejectionLog) of(addr string) LogRejections {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.peers[addr]
}

// LogRejections returns the refusals of the server at addr (its Raft
// address) of this node's replication as leader; zero if none.
func (n *Node) LogRejections(addr string) LogRejections { return n.rejections.of(addr) }
