// Package bench is the benchmark engine behind `kizuna bench`: it sweeps
// message sizes for one or more collectives on a communicator and reports,
// in nccl-tests' conventions, time, algorithm bandwidth, bus bandwidth and
// the number of wrong elements (checked against the sequential oracle), for
// out-of-place and in-place calls, plus p50 and p99 latency. See
// doc/PERFORMANCE.md of NVIDIA/nccl-tests for the definitions of algbw and
// busbw, which this package follows.
//
// Every rank of the communicator calls Run with the same Options; only rank
// 0 writes. Run is not safe for concurrent use on one communicator.
//
// Output is the nccl-tests table, JSON lines or CSV (the JSON keys as
// columns, in order); Options.Compare runs each operation once per
// algorithm. Chart turns rows into a bus-bandwidth-against-size chart
// (package bench/plot renders it as SVG). The command in bench/cmd/compare
// runs Kizuna and the peer libraries side by side and writes a markdown
// table and a chart of the ratios.
//
// The package's `go test -bench` benchmarks measure AllReduce per algorithm
// and transport on goroutine ranks.
package bench
