package bench

import (
	"context"
	"time"

	"github.com/conclave-go/conclave/cluster"
)

// ClientsEnv is a Conclave cluster of three servers and many client nodes,
// each with its own gossip and its own connections, in this process.
type ClientsEnv struct {
	Con *Conclave
}

// StartClientsEnv starts three servers (bolt on disk, LAN profile) and
// clients client nodes, and waits until every node has applied a command.
func StartClientsEnv(ctx context.Context, dir string, clients int) (*ClientsEnv, error) {
	con, err := StartConclave(ctx, ConclaveOptions{Dir: dir, Clients: clients, Profile: cluster.ProfileLAN})
	if err != nil {
		return nil, err
	}
	return &ClientsEnv{Con: con}, nil
}

// Close stops every node.
func (e *ClientsEnv) Close() error { return e.Con.Close() }

// IdleCPU returns the share of one core the process used over d with no
// load: the cost of the nodes' gossip and Raft heartbeats.
func (e *ClientsEnv) IdleCPU(d time.Duration) float64 {
	c0, t0 := selfCPU(), time.Now()
	time.Sleep(d)
	return float64(selfCPU()-c0) / float64(time.Since(t0))
}

// ClientTargets returns the writes compared: the same callers spread over
// the servers (the leader applies its share, the followers forward theirs),
// all on the leader, and spread over the client nodes (worker w writes
// through client node w mod the number of clients).
func (e *ClientsEnv) ClientTargets(size int) ([]Target, error) {
	c := e.Con
	if c.Leader() < 0 {
		return nil, errNoLeader
	}
	apply := func(pick func(w int) int) Op {
		return func(ctx context.Context, w, seq int) error {
			_, err := c.Nodes[pick(w)].Apply(ctx, Command(opKey(w, seq), size))
			return err
		}
	}
	leader := c.Leader()
	clients := len(c.Nodes) - c.Servers
	return []Target{
		{Name: "servers", Op: apply(func(w int) int { return w % c.Servers })},
		{Name: "leader", Op: apply(func(int) int { return leader })},
		{Name: "client nodes", Op: apply(func(w int) int { return c.Servers + w%clients })},
	}, nil
}

// ClientWrites measures the targets at each caller count (callers in
// total, spread over the nodes) and size; rows compare with the servers.
func (e *ClientsEnv) ClientWrites(ctx context.Context, callers, sizes []int, rounds int, slice time.Duration) ([]Row, error) {
	var rows []Row
	for _, size := range sizes {
		for _, n := range callers {
			ts, res, err := interleave(ctx, n, rounds, slice, func() ([]Target, error) { return e.ClientTargets(size) })
			if err != nil {
				return rows, err
			}
			rows = append(rows, compareRows("clients", ts, res, n, size, "")...)
		}
	}
	return rows, nil
}
