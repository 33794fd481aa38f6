// Package testkit holds the helpers the module's tests share: polling for a
// condition, a logger switched on by CONCLAVE_TEST_LOG, a buffer safe for
// concurrent writers, and the pieces the examples' process tests use
// (building a command, running its processes with Exec).
//
// It imports testing and is for tests only. Being internal, only packages
// under github.com/conclave-go/conclave can import it: this module's and
// those of the modules nested in it, such as raftwal.
package testkit
