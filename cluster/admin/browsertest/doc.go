// Package browsertest drives the admin handler's status page in a real
// headless Chromium. It is a module of its own so that the library's go.mod
// gains no browser driver; it has no code besides its tests.
//
// The tests skip when no Chromium is installed (Debian: apt-get install
// chromium), unless CONCLAVE_REQUIRE_BROWSER=1, as in .ci/run, which makes
// a missing browser a failure. CONCLAVE_CHROMIUM names the binary to use;
// CONCLAVE_SCREENSHOT_DIR, when set, receives a copy of the screenshots
// (they are always written under the test's temporary directory).
package browsertest
