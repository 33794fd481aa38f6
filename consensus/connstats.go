package consensus

// ConnStats counts the connections to the node's port (Raft's and RPC's,
// after their protocol byte), and those closed by its limits. Counters only
// grow.
type ConnStats struct {
	// Open is the number of open connections; MaxConns the bound on it
	// (Tuning.MaxConns) and MaxConnsPerIP the bound for one remote address.
	Open, MaxConns, MaxConnsPerIP int
	// Pending is the number of connections still awaiting their protocol
	// byte (bounded at 512, each for at most 10 s).
	Pending int
	// Refused counts connections closed at once because a bound was reached.
	Refused uint64
	// Evicted counts idle connections closed to admit new ones at MaxConns.
	Evicted uint64
	// IdleClosed counts connections closed after Tuning.ConnIdleTimeout
	// without traffic.
	IdleClosed uint64
}

// ConnStats returns the counts of the node's port; zero before Start.
func (n *Node) ConnStats() ConnStats {
	if n.raftOrNil() == nil {
		return ConnStats{}
	}
	s := n.mux.Stats()
	return ConnStats{
		Open: s.Conns, MaxConns: s.MaxConns, MaxConnsPerIP: s.MaxConnsPerIP, Pending: s.Pending,
		Refused: s.Refused, Evicted: s.Evicted, IdleClosed: s.IdleClosed,
	}
}
