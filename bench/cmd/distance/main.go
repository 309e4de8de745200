// Command distance measures how far apart two processors are, as shared
// memory sees it (bench.MeasureDistance): a cache line's round trip
// between them, and how fast one copies into a ring the other reads, with
// ordinary and with non-temporal stores. On a virtual machine the figures
// change as the hypervisor moves the vCPUs, and every library's speed
// with them; bench/cmd/compare records them before and after its runs.
//
//	go run ./bench/cmd/distance [-a 0] [-b 1] [-n 1]
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/kizuna-hpc/kizuna/bench"
)

func main() {
	a := flag.Int("a", 0, "first processor")
	b := flag.Int("b", 1, "second processor")
	n := flag.Int("n", 1, "measurements, one per second")
	flag.Parse()
	for i := range *n {
		if i > 0 {
			time.Sleep(time.Second)
		}
		d, err := bench.MeasureDistance(*a, *b)
		if err != nil {
			fmt.Fprintln(os.Stderr, "distance:", err)
			os.Exit(1)
		}
		fmt.Printf("%s processors %d and %d: %v\n", time.Now().UTC().Format("15:04:05"), *a, *b, d)
	}
}
