// Package bench measures Conclave side by side with a hashicorp/raft group
// wired by hand, on the same machine, in the same run, with the same storage
// (raft-boltdb on disk) and the same state machine.
//
// It provides the groups ([StartBaseline], [StartConclave], [StartEnv]), a
// closed-loop load generator ([RunFor], [RunN]) and the scenarios of the
// performance suite: write and read throughput ([Env.Writes], [Env.Reads]),
// storage and Raft settings ([Tuning]), failover ([Failover]), graceful
// leave ([LeaderLeave]), flapping under delay ([Flapping]), failure
// detection and partition healing ([Detection], [PauseFalseFailures],
// [HealTime]), idle footprint ([Footprint]) and the kvstore example over
// HTTP ([StartKVStore], [HTTPComparison]). Comparisons interleave their
// targets in short slices so that a change in the machine's load affects
// them alike: ratios measured in one run are the figures to read.
//
// The command in bench/cmd/conclave-bench runs the suite and prints
// Markdown tables; docs/PERFORMANCE.md holds the results. The Go benchmarks
// of this package cover the throughput cases; they run only with -bench.
//
// # Usage
//
//	go run ./bench/cmd/conclave-bench -suite writes,reads -slice 2s
//	go test -run='^$' -bench=Write/size=64 ./bench/
//
// From a program:
//
//	env, err := bench.StartEnv(ctx, bench.EnvOptions{Dir: dir})
//	if err != nil { ... }
//	defer env.Close()
//	rows, err := env.Writes(ctx, []int{1, 64}, []int{64}, 3, time.Second)
//	if err != nil { ... }
//	bench.WriteTable(os.Stdout, rows)
package bench
