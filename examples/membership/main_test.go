package main

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// lockedBuffer is written by run and by its event printer.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestRun(t *testing.T) {
	defer goleak.VerifyNone(t,
		// memberlist does not join a probe in flight at shutdown; it ends
		// within one probe interval.
		goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"))
	var out lockedBuffer
	require.NoError(t, run(t.Context(), &out))
	text := out.String()
	for _, want := range []string{
		"formed: every node sees 5 alive members",
		"node-5 declared failed by all 4 other nodes",
		"node-1 observed: failed node-5",
		"node-4 seen as left (not failed) by all 3 other nodes",
		"node-1 observed: leave node-4",
		"3 alive, one failed, one left, as expected",
	} {
		require.True(t, strings.Contains(text, want), "missing %q in:\n%s", want, text)
	}
}
