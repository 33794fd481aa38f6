package clustertest

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/conclave-go/conclave/internal/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testkit.LeakOptions()...)
}

// testOpts returns the options every test uses: the test logger (see
// testkit.Logger), then opts.
func testOpts(t testing.TB, opts ...Option) []Option {
	return append([]Option{WithLogger(testkit.Logger(t))}, opts...)
}
