package clustertest_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"strconv"
	"sync"
	"time"

	"github.com/conclave-go/conclave/cluster/clustertest"
	"github.com/conclave-go/conclave/consensus"
)

// counter is the application's own state machine: the command "incr" adds
// one, and any query returns the count.
type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) Apply([]byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return nil, nil
}

func (c *counter) Query([]byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return []byte(strconv.Itoa(c.n)), nil
}

func (c *counter) Snapshot() (consensus.Snapshot, error) {
	b, _ := c.Query(nil)
	return consensus.SnapshotFunc{WriteFunc: func(w io.Writer) error { _, err := w.Write(b); return err }}, nil
}

func (c *counter) Restore(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n, err = strconv.Atoi(string(b))
	return err
}

// A partition cuts the leader off: the majority elects a new one and keeps
// accepting writes, the old leader cannot commit any, and after the heal it
// reads what the majority wrote. In a test, clustertest.New(t, 3, ...)
// replaces Start and cleans up by itself.
func Example() {
	c, err := clustertest.Start(3, clustertest.WithStateMachine(func() consensus.StateMachine { return &counter{} }))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	old := c.WaitLeader()
	c.Partition([]int{old}, c.Except(old))
	lead := c.WaitLeader(c.Except(old)...)
	_, err = c.Node(lead).Apply(ctx, []byte("incr"))
	fmt.Println("write on the majority side:", err)

	short, cancelShort := context.WithTimeout(ctx, time.Second)
	_, err = c.Node(old).Apply(short, []byte("incr"))
	cancelShort()
	fmt.Println("write on the cut-off old leader failed:", err != nil)

	c.Heal()
	count, err := c.Node(old).Query(ctx, consensus.Linearizable, nil)
	fmt.Println("count read on the old leader:", string(count), err)
	// Output:
	// write on the majority side: <nil>
	// write on the cut-off old leader failed: true
	// count read on the old leader: 1 <nil>
}
