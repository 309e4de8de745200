// Command compare runs Kizuna and its peer libraries side by side on this
// machine and reports the ratios of their bus bandwidths.
//
//	go run ./bench/cmd/compare -np 2,4 -op allreduce -b 64K -e 64M -runs 3 \
//	    -peers mpi-tcp,mpi-shm -latency -out docs/perf/allreduce
//
// For every operation and rank count it runs `kizuna bench` (built from
// ./cmd/kizuna unless -kizuna names a binary) and each peer through the
// peers script (`run.sh PEER NP OP MIN MAX ITERS`: Open MPI over TCP or
// shared memory, PyTorch's Gloo), -runs times each, interleaved so that a
// change in the machine's load touches every library alike. It takes the
// median bus bandwidth per size, and writes a markdown table (per size:
// Kizuna's busbw, each peer's, and Kizuna/peer) to standard output and to
// OUT.md, an SVG chart of the ratios to OUT.svg, and the measurements to
// OUT.json (-replot OUT.json redraws the table and chart from them without
// running anything). With -latency it also measures the 8-byte operation's
// time, and the table gets a latency row whose ratio is peer time / Kizuna
// time (above 1: Kizuna is faster).
//
// Kizuna's numbers are its out-of-place rows, timed as nccl-tests does; the
// peers time out-of-place calls too, except Gloo, whose all-reduce is
// in place. Every program warms up with two operations per size (Open
// MPI's peer program's count); Kizuna's repeats them for at least
// bench.DefaultSettle, which outlasts the Go runtime's reaction to the
// garbage collection kizuna bench runs before each size. Results are checked by every program; a run with wrong elements
// is an error.
package main
