package consensus_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/conclave-go/conclave/consensus"
)

// registers is a tiny state machine: "name=value" commands set registers.
type registers struct {
	mu   sync.RWMutex
	vals map[string]string
}

func (r *registers) Apply(cmd []byte) ([]byte, error) {
	k, v, ok := strings.Cut(string(cmd), "=")
	if !ok {
		return nil, fmt.Errorf("bad command %q", cmd)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.vals[k] = v
	return []byte("ok"), nil
}

func (r *registers) Get(k string) string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.vals[k]
}

func (r *registers) Snapshot() (consensus.Snapshot, error) {
	r.mu.RLock()
	view := maps.Clone(r.vals)
	r.mu.RUnlock()
	return consensus.SnapshotFunc{WriteFunc: func(w io.Writer) error {
		return json.NewEncoder(w).Encode(view)
	}}, nil
}

func (r *registers) Restore(rd io.Reader) error {
	vals := map[string]string{}
	if err := json.NewDecoder(bufio.NewReader(rd)).Decode(&vals); err != nil {
		return err
	}
	r.mu.Lock()
	r.vals = vals
	r.mu.Unlock()
	return nil
}

// Three servers in one process, bootstrapped with a static peer list: a
// write on any of them, then a linearizable read on another.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var nodes []*consensus.Node
	var peers []consensus.Server
	for _, id := range []string{"a", "b", "c"} {
		node, err := consensus.New(consensus.Config{
			Name:         id,
			BindAddr:     "127.0.0.1:0", // any free port
			InMemory:     true,
			Profile:      consensus.ProfileLocal,
			StateMachine: &registers{vals: map[string]string{}},
		})
		if err != nil {
			panic(err)
		}
		if err := node.Start(ctx); err != nil {
			panic(err)
		}
		defer node.Close()
		nodes = append(nodes, node)
		peers = append(peers, consensus.Server{Name: id, Addr: node.Addr()})
	}
	for _, node := range nodes {
		if err := node.Bootstrap(ctx, peers); err != nil {
			panic(err)
		}
	}

	res, err := nodes[1].Apply(ctx, []byte("colour=blue"))
	if err != nil {
		panic(err)
	}
	fmt.Println("apply:", string(res))

	err = nodes[2].Read(ctx, consensus.Linearizable, func(sm consensus.StateMachine) error {
		fmt.Println("colour:", sm.(*registers).Get("colour"))
		return nil
	})
	if err != nil {
		panic(err)
	}
	// Output:
	// apply: ok
	// colour: blue
}
