package clustertest

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/conclave-go/conclave/internal/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// memberlist does not join a probe in flight at shutdown; it ends
		// within one probe interval, which Lifeguard stretches up to eight
		// times on a node that saw peers come and go.
		goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"))
}

// testOpts returns the options every test uses: the test logger (see
// testkit.Logger), then opts.
func testOpts(t testing.TB, opts ...Option) []Option {
	return append([]Option{WithLogger(testkit.Logger(t))}, opts...)
}
