package rpc

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conclave-go/conclave/internal/testkit"
)

// An idle server connection costs one goroutine, its reader: handlers write
// their own replies. Replies still reach concurrent callers (see
// TestManyConcurrentCalls).
func TestIdleServerConnHasOneGoroutine(t *testing.T) {
	ts := startServer(t, echo, ServerConfig{})
	c := newTestClient(t, ClientConfig{ConnsPerAddr: 1})
	for range 3 {
		_, err := c.Call(testkit.Context(t, 20*time.Second), ts.addr, methodEcho, []byte("x"))
		require.NoError(t, err)
	}
	testkit.WaitFor(t, 10*time.Second, func() bool { return goroutinesIn("rpc.(*serverConn)") == 1 },
		"one goroutine per idle server connection")
}

// goroutinesIn counts the goroutines whose stack mentions fn.
func goroutinesIn(fn string) int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, fn) {
			n++
		}
	}
	return n
}
