// Package testkit holds the helpers the module's tests share: polling for a
// condition, a logger switched on by CONCLAVE_TEST_LOG, a buffer safe for
// concurrent writers, and the pieces the examples' process tests use.
//
// It imports testing and is for tests only; being internal, nothing outside
// this module can import it.
package testkit
