package clustertest

import (
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/conclave-go/conclave/cluster"
)

// Close stops every node (without leaving), closes the fault network and,
// for a cluster built by Start, removes the data dirs. It returns once
// every goroutine of the cluster has exited, and reports an [ErrInvariant]
// error if two leaders were seen in one term. It is idempotent; New
// registers it with t.Cleanup.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	var slots []*slot
	for _, s := range c.slots {
		if s.node != nil {
			slots = append(slots, s)
		}
	}
	c.mu.Unlock()
	close(c.stop)
	c.wg.Wait()
	errs := c.closeNodes(slots)
	if c.net != nil {
		errs = append(errs, c.net.Close())
	}
	if c.rootDir != "" {
		errs = append(errs, os.RemoveAll(c.rootDir))
	}
	errs = append(errs, c.leaders.err())
	return errors.Join(errs...)
}

// closeNodes closes the nodes of slots concurrently.
func (c *Cluster) closeNodes(slots []*slot) []error {
	errs := make([]error, len(slots))
	var wg sync.WaitGroup
	for i, s := range slots {
		wg.Go(func() { errs[i] = c.closeNode(s.name, s.node) })
	}
	wg.Wait()
	return errs
}

// closeNode closes one node instance, waiting at most the cluster's
// timeout. A Close that does not return is a bug of the node: the error
// names a file holding a dump of every goroutine. Other close errors are
// only logged: the node is down either way.
func (c *Cluster) closeNode(name string, node *cluster.Node) error {
	done := make(chan error, 1)
	go func() { done <- node.Close() }()
	t := time.NewTimer(c.set.timeout)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			c.logf("%s: close: %v", name, err)
		}
		return nil
	case <-t.C:
		return fmt.Errorf("%w: %s: Close did not return within %v; goroutines: %s", ErrHung, name, c.set.timeout, dumpGoroutines())
	}
}

// dumpGoroutines writes every goroutine's stack to a kept temporary file
// and returns its path.
func dumpGoroutines() string {
	f, err := os.CreateTemp("", "clustertest-goroutines-*.txt")
	if err != nil {
		return "(no dump: " + err.Error() + ")"
	}
	defer f.Close()
	_ = pprof.Lookup("goroutine").WriteTo(f, 2)
	return f.Name()
}

// cleanup is Close for t.Cleanup: an invariant violation fails the test,
// other close errors are logged.
func (c *Cluster) cleanup() {
	c.tb.Helper()
	err := c.Close()
	if lerr := c.leaders.err(); lerr != nil {
		c.tb.Errorf("clustertest: %v", lerr)
	}
	if err != nil {
		c.tb.Logf("clustertest: close: %v", err)
	}
}
