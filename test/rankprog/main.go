// Command rankprog is one rank of the multi-process integration tests: it
// connects from the KIZUNA_* environment and runs a scenario.
//
//	-mode oracle    every collective x algorithm at a few counts, checked
//	                against the oracle; prints "ok N cases"
//	-mode loop      all-reduce in a loop until an error; prints "ready" once
//	                the first call succeeded and the error at the end
//	-mode bcast     like loop, with 64 MiB broadcasts from rank 0 (rank 0
//	                only sends, so a stalled peer blocks its writes)
//
// Modes for `kizuna run`'s tests:
//
//	-mode env       connects, all-reduces the ranks and prints
//	                "rank R of N local L/LN node K sum S extra E token T"
//	-mode stdin     prints "rank R read N bytes: TEXT" for all its stdin
//	-mode exit      rank -rank prints two stderr lines and exits -code; the
//	                others wait for a signal as in -mode sleep
//	-mode kill      rank -rank kills itself with SIGKILL; the others wait
//	-mode sleep     prints "ready", waits for SIGTERM or SIGINT, prints
//	                "rank R got signal NAME" and exits 0; -ignore-term: it
//	                ignores SIGTERM; -child: it first starts a child
//	                process that sleeps (to prove process groups are cleaned)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"

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
	mode := flag.String("mode", "oracle", "scenario: oracle, loop, env, stdin, exit, kill or sleep")
	target := flag.Int("rank", 0, "the rank that fails (-mode exit, kill)")
	code := flag.Int("code", 1, "exit status (-mode exit)")
	ignoreTerm := flag.Bool("ignore-term", false, "ignore SIGTERM (-mode sleep)")
	child := flag.Bool("child", false, "start a sleeping child process first (-mode sleep)")
	flag.Parse()
	ctx := context.Background()
	rank, _ := strconv.Atoi(os.Getenv("KIZUNA_RANK"))
	switch *mode {
	case "stdin":
		b, err := io.ReadAll(os.Stdin)
		if err != nil {
			return err
		}
		fmt.Printf("rank %d read %d bytes: %q\n", rank, len(b), b)
		return nil
	case "exit", "kill":
		if rank != *target {
			return sleep(rank, false, false)
		}
		if *mode == "kill" {
			return syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
		fmt.Fprintf(os.Stderr, "rank %d: first stderr line\n", rank)
		fmt.Fprintf(os.Stderr, "rank %d failing on purpose\n", rank)
		os.Exit(*code)
	case "sleep":
		return sleep(rank, *ignoreTerm, *child)
	}
	c, err := collective.NewFromEnv(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	switch *mode {
	case "env":
		buf := []float64{float64(rank)}
		if err := collective.AllReduce(ctx, c, buf, buf, collective.Sum); err != nil {
			return err
		}
		fmt.Printf("rank %d of %d local %s/%s node %s sum %g extra %s token %s\n", c.Rank(), c.Size(),
			os.Getenv("KIZUNA_LOCAL_RANK"), os.Getenv("KIZUNA_LOCAL_WORLD_SIZE"), os.Getenv("KIZUNA_NODE_RANK"),
			buf[0], os.Getenv("KIZUNA_TEST_EXTRA"), os.Getenv("KIZUNA_TOKEN"))
		return nil
	case "oracle":
		return oracleCases(ctx, c)
	case "bcast":
		buf := make([]byte, 64<<20)
		for i := 0; ; i++ {
			if err := c.BroadcastBytes(ctx, buf, buf, collective.Uint8, 0); err != nil {
				return err
			}
			if i == 0 {
				fmt.Println("ready")
			}
		}
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
		for _, algo := range collective.Available(coll) {
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

// sleep prints "ready" and waits for SIGINT or SIGTERM (only SIGINT with
// ignoreTerm), then says which one came.
func sleep(rank int, ignoreTerm, child bool) error {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	if child {
		// The child inherits the environment (and the test's marker) and the
		// process group, and outlives this process unless the group is killed.
		if err := exec.Command("sleep", "120").Start(); err != nil {
			return err
		}
	}
	fmt.Println("ready")
	for s := range sigs {
		if ignoreTerm && s == syscall.SIGTERM {
			fmt.Printf("rank %d ignores SIGTERM\n", rank)
			continue
		}
		fmt.Printf("rank %d got signal %v\n", rank, s)
		return nil
	}
	return nil
}
