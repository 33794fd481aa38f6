package testkit

import (
	"os"
	"testing"
)

// Unavailable ends t because something it needs is missing here (root, a
// tool), saying why: it skips t, except under CI (CI=true, as .ci/run sets
// it), where everything a test needs is installed and a skip would hide a
// test that did not run, so it fails t.
func Unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s; CI must run every test", why)
	}
	t.Skip(why)
}
