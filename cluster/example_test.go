package cluster_test

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/conclave-go/conclave/cluster"
	"github.com/conclave-go/conclave/consensus"
)

// counter is a replicated counter: every command adds its value.
type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) Apply(cmd []byte) ([]byte, error) {
	d, err := strconv.Atoi(string(cmd))
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += d
	return []byte(strconv.Itoa(c.n)), nil
}

func (c *counter) Query([]byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return []byte(strconv.Itoa(c.n)), nil
}

func (c *counter) Snapshot() (consensus.Snapshot, error) {
	c.mu.Lock()
	v := strconv.Itoa(c.n)
	c.mu.Unlock()
	return consensus.SnapshotFunc{WriteFunc: func(w io.Writer) error {
		_, err := io.WriteString(w, v)
		return err
	}}, nil
}

func (c *counter) Restore(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(string(b))
	c.mu.Lock()
	c.n = n
	c.mu.Unlock()
	return err
}

// Three servers on one machine form a cluster from gossip alone, and any of
// them can write.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var nodes []*cluster.Node
	seed := ""
	for i := range 3 {
		cfg := cluster.Config{
			Name:     fmt.Sprintf("server-%d", i),
			BindAddr: "127.0.0.1:0",
			Profile:  cluster.ProfileLocal,
			Consensus: &cluster.ConsensusConfig{
				BindAddr:        "127.0.0.1:0",
				InMemory:        true,
				StateMachine:    &counter{},
				BootstrapExpect: 3,
			},
		}
		if seed != "" {
			cfg.Seeds = []string{seed}
		}
		node, err := cluster.New(cfg)
		if err != nil {
			panic(err)
		}
		if err := node.Start(ctx); err != nil {
			panic(err)
		}
		defer node.Close()
		seed = node.Local().Address()
		nodes = append(nodes, node)
	}

	for _, n := range nodes {
		if _, err := n.Apply(ctx, []byte("1")); err != nil {
			panic(err)
		}
	}
	total, err := nodes[0].Query(ctx, consensus.Linearizable, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println("total:", string(total))
	// Output: total: 3
}
