// Command tune measures `kizuna bench` under candidate values of one
// tuning variable and prints a markdown table of median bus bandwidths, so
// that defaults are chosen from data.
//
//	go run ./bench/cmd/tune -var KIZUNA_CHUNK_BYTES=262144,524288,1048576 -np 2,4 -b 64K -e 64M -runs 3
//
// For each rank count it runs the sweep (over -transport, tcp by default)
// once per value, in turn, -runs times (interleaved, so that a change in
// the machine's load touches every value alike), with the variable set in
// the ranks' environment, and
// reports per size the median busbw (GB/s) of each value, the best value
// marked in bold, and a last row with the geometric mean over sizes.
package main
