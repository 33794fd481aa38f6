// Command kvstore is a replicated key-value store with an HTTP API, built on
// Conclave. Run three of them (see README.md); every node serves reads and
// writes, and followers forward writes to the leader. The node itself is
// package server.
package main

import "github.com/conclave-go/conclave/examples/kvstore/server"

func main() { server.Main() }
