// Command diagprog is one rank of the diagnosis tests (test/diag_test.go):
// it connects from the KIZUNA_* environment and runs a scenario.
//
//	-mode hang      all-reduces -ops times, prints "ready", then every rank
//	                but -rank all-reduces once more; rank -rank never does
//	                and waits to be stopped, so the others hang
//	-mode ops       runs -ops rounds of all-reduce, broadcast and all-gather
//	                and exits
//	-mode mismatch  rank -rank all-reduces one element more than the others;
//	                every rank prints "rank R: mismatch=BOOL: ERROR" and
//	                exits at once without closing its communicator (as a
//	                program calling log.Fatal does; with status 0, so that
//	                kizuna run lets the other ranks finish)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/kizuna-hpc/kizuna/collective"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "diagprog:", err)
		os.Exit(1)
	}
}

func run() error {
	mode := flag.String("mode", "ops", "scenario: hang, ops or mismatch")
	stuck := flag.Int("rank", 0, "the rank that skips the collective (-mode hang) or mismatches (-mode mismatch)")
	ops := flag.Int("ops", 2, "operations (rounds) before the hang or in all")
	flag.Parse()
	ctx := context.Background()
	c, err := collective.NewFromEnv(ctx)
	if err != nil && *mode == "mismatch" {
		// A rank still starting can learn of the mismatch there: the
		// others may finish the start-up collectives without it.
		fmt.Printf("rank %s: mismatch=%v: %v\n", os.Getenv("KIZUNA_RANK"), errors.Is(err, collective.ErrMismatch), err)
		os.Exit(0)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]float32, 1024)
	switch *mode {
	case "hang":
		for range *ops {
			if err := collective.AllReduce(ctx, c, buf, buf, collective.Sum); err != nil {
				return err
			}
		}
		fmt.Println("ready")
		if c.Rank() == *stuck {
			sigs := make(chan os.Signal, 1)
			signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
			<-sigs
			return nil
		}
		return collective.AllReduce(ctx, c, buf, buf, collective.Sum)
	case "ops":
		all := make([]float32, len(buf)*c.Size())
		for range *ops {
			if err := collective.AllReduce(ctx, c, buf, buf, collective.Sum); err != nil {
				return err
			}
			if err := collective.Broadcast(ctx, c, buf, buf, 0); err != nil {
				return err
			}
			if err := collective.AllGather(ctx, c, buf, all); err != nil {
				return err
			}
		}
		fmt.Printf("rank %d done\n", c.Rank())
		return nil
	case "mismatch":
		if c.Rank() == *stuck {
			buf = append(buf, 0)
		}
		err := collective.AllReduce(ctx, c, buf, buf, collective.Sum, collective.WithAlgo(collective.Ring))
		if err == nil {
			err = c.Barrier(ctx) // learns of a mismatch it was not part of
		}
		fmt.Printf("rank %d: mismatch=%v: %v\n", c.Rank(), errors.Is(err, collective.ErrMismatch), err)
		os.Exit(0)
	}
	return errors.New("unknown mode " + *mode)
}
