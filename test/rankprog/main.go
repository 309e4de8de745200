// Command rankprog is one rank of the multi-process integration tests: it
// connects from the KIZUNA_* environment and runs a scenario.
//
//	-mode oracle    every collective x algorithm at a few counts, checked
//	                against the oracle; prints "ok N cases"
//	-mode loop      all-reduce in a loop until an error; prints "ready" once
//	                the first call succeeded and the error at the end
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/kizuna-hpc/kizuna/collective"
	"github.com/kizuna-hpc/kizuna/collective/schedule"
	"github.com/kizuna-hpc/kizuna/internal/oracle"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "rankprog:", err)
		os.Exit(1)
	}
}

func run() error {
	mode := flag.String("mode", "oracle", "scenario: oracle or loop")
	flag.Parse()
	ctx := context.Background()
	c, err := collective.NewFromEnv(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	switch *mode {
	case "oracle":
		return oracleCases(ctx, c)
	case "loop":
		buf := make([]float32, 1<<14)
		for i := 0; ; i++ {
			if err := collective.AllReduce(ctx, c, buf, buf, collective.Sum); err != nil {
				return err
			}
			if i == 0 {
				fmt.Println("ready")
			}
		}
	}
	return errors.New("unknown mode " + *mode)
}

func oracleCases(ctx context.Context, c *collective.Comm) error {
	n := c.Size()
	colls := []schedule.Coll{schedule.AllReduce, schedule.Broadcast, schedule.Reduce, schedule.AllGather,
		schedule.ReduceScatter, schedule.AllToAll, schedule.Gather, schedule.Scatter, schedule.Barrier}
	cases := 0
	for _, coll := range colls {
		for _, algo := range schedule.Available(coll) {
			for _, count := range []int{0, 1, n + 1, 100003} {
				if coll == schedule.Barrier && count > 0 {
					continue
				}
				for _, inPlace := range []bool{false, true} {
					tc := oracle.Case{Coll: coll, Algo: algo, DType: collective.Float32, Op: collective.Sum,
						Count: count, Root: n - 1, InPlace: inPlace}
					if err := oracle.Check(ctx, c, tc, uint64(cases)+1); err != nil {
						return err
					}
					cases++
				}
			}
		}
	}
	fmt.Printf("ok %d cases\n", cases)
	return nil
}
