// Command faultprog is one rank of the fault-tolerance tests: it
// all-reduces in a loop, checking every result against the sum it
// computes itself, until an operation fails (a rank was killed); then it
// shrinks the communicator to the survivors and all-reduces -iters more
// times on it, checked the same way, and prints
// "shrunk: rank R of S (was rank W) after ERR".
//
//	faultprog -iters 50
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/kizuna-hpc/kizuna/collective"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "faultprog:", err)
		os.Exit(1)
	}
}

func run() error {
	iters := flag.Int("iters", 50, "checked all-reduces on the shrunk communicator")
	flag.Parse()
	ctx := context.Background()
	c, err := collective.NewFromEnv(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	all := make([]int, c.Size())
	for i := range all {
		all[i] = i
	}
	buf := make([]float64, 4096)
	var opErr error
	for it := 0; ; it++ {
		if opErr = step(ctx, c, c.Rank(), all, it, buf); opErr != nil {
			break
		}
		if it == 0 {
			fmt.Println("ready")
		}
	}
	fmt.Fprintln(os.Stderr, "error:", opErr)
	s, err := c.Shrink(ctx)
	if err != nil {
		return fmt.Errorf("shrink after %v: %w", opErr, err)
	}
	defer s.Close()
	// The survivors' old ranks, in the new order.
	olds := make([]int64, s.Size())
	if err := collective.AllGather(ctx, s, []int64{int64(c.Rank())}, olds); err != nil {
		return err
	}
	alive := make([]int, len(olds))
	for i, o := range olds {
		alive[i] = int(o)
	}
	for it := range *iters {
		if err := step(ctx, s, c.Rank(), alive, it, buf); err != nil {
			return fmt.Errorf("after shrink, iteration %d: %w", it, err)
		}
	}
	fmt.Printf("shrunk: rank %d of %d (was rank %d) after %v\n", s.Rank(), s.Size(), c.Rank(), opErr)
	return nil
}

// step all-reduces a pattern of (old rank, iteration) on c and checks the
// sum over the ranks alive.
func step(ctx context.Context, c *collective.Comm, old int, alive []int, it int, buf []float64) error {
	for i := range buf {
		buf[i] = float64(old*(it+1) + i%97)
	}
	if err := collective.AllReduce(ctx, c, buf, buf, collective.Sum); err != nil {
		return err
	}
	for i, v := range buf {
		want := 0.0
		for _, r := range alive {
			want += float64(r*(it+1) + i%97)
		}
		if v != want {
			return fmt.Errorf("all-reduce %d: [%d] = %v; want %v", it, i, v, want)
		}
	}
	return nil
}
