//go:build !linux

package testkit

import "testing"

// Tmpfs is available on Linux only; elsewhere the test is skipped.
func Tmpfs(t testing.TB, size int64) string {
	t.Helper()
	t.Skip("tmpfs mounts need Linux")
	return ""
}

// Fill is available on Linux only.
func Fill(t testing.TB, dir string) string {
	t.Helper()
	t.Skip("tmpfs mounts need Linux")
	return ""
}
