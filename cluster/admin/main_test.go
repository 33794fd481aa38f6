package admin_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/conclave-go/conclave/internal/testkit"
)

// Every node, handler and bridge a test starts is stopped by its end.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testkit.LeakOptions()...)
}
