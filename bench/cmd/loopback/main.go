// Command loopback measures how fast two endpoints of one process exchange
// messages over loopback TCP, both ways at once as the two ranks of a ring
// all-reduce do, when the senders write(2) (the kernel copies each byte
// into socket buffers and out again) and when they vmsplice(2) and
// splice(2) (the socket buffers refer to the sender's pages, and the
// sender waits for the receiver's acknowledgement before it changes them;
// bench.MeasureLoopback). It answers whether a TCP transport could send
// without its copy on this machine, and is the measurement behind
// docs/performance.md's "vmsplice for TCP sends".
//
//	go run ./bench/cmd/loopback [-b 64K] [-e 16M] [-f 4] [-n 0] [-runs 3]
//
// Each size runs write then splice, -runs times, and the table gives each
// mode's median rate each way and the median of the per-run ratios
// splice/write (above 1: splice is faster). -n 0 sends about 256 MiB each
// way per size and mode. The processors' distance (bench.MeasureDistance)
// is printed before and after: it changes both modes' speed.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/kizuna-hpc/kizuna/bench"
)

func main() {
	minS := flag.String("b", "64K", "smallest message (K, M suffixes)")
	maxS := flag.String("e", "16M", "largest message")
	factor := flag.Int("f", 4, "size multiplier between rows")
	rounds := flag.Int("n", 0, "rounds per size and mode (0: about 256 MiB each way)")
	runs := flag.Int("runs", 3, "alternations of the two modes")
	flag.Parse()
	if err := run(*minS, *maxS, int64(*factor), *rounds, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "loopback:", err)
		os.Exit(1)
	}
}

func run(minS, maxS string, factor int64, rounds, runs int) error {
	lo, err := bench.ParseBytes(minS)
	if err != nil {
		return err
	}
	hi, err := bench.ParseBytes(maxS)
	if err != nil {
		return err
	}
	if factor < 2 || runs < 1 || rounds < 0 {
		return fmt.Errorf("-f %d, -runs %d, -n %d: want -f >= 2, -runs >= 1, -n >= 0", factor, runs, rounds)
	}
	fmt.Printf("# %s, GOMAXPROCS %d, %s UTC\n", bench.Machine(), runtime.GOMAXPROCS(0), time.Now().UTC().Format("2006-01-02 15:04"))
	fmt.Printf("# distance before: %s\n", bench.DescribeDistance())
	fmt.Printf("%10s %12s %12s %13s\n", "bytes", "write GB/s", "splice GB/s", "splice/write")
	for _, size := range bench.Sizes(lo, hi, factor) {
		n := rounds
		if n == 0 {
			n = max(int((256<<20)/size), 4)
		}
		var w, s, ratio []float64
		for range runs {
			rw, err := bench.MeasureLoopback(bench.LoopbackWrite, int(size), n)
			if err != nil {
				return err
			}
			rs, err := bench.MeasureLoopback(bench.LoopbackSplice, int(size), n)
			if err != nil {
				return err
			}
			w, s, ratio = append(w, rw), append(s, rs), append(ratio, rs/rw)
		}
		fmt.Printf("%10d %12.2f %12.2f %13.2f\n", size, bench.Median(w)/1e9, bench.Median(s)/1e9, bench.Median(ratio))
	}
	fmt.Printf("# distance after: %s\n", bench.DescribeDistance())
	return nil
}
