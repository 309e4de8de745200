package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/kizuna-hpc/kizuna/bench"
	"github.com/kizuna-hpc/kizuna/collective"
	"github.com/kizuna-hpc/kizuna/collective/reduce"
	"github.com/kizuna-hpc/kizuna/collective/schedule"
	"github.com/kizuna-hpc/kizuna/internal/launch"
)

const benchUsage = `Usage: kizuna bench [flags]

Measures collectives with nccl-tests' conventions and checks every result
against a sequential reference. Without a launcher it starts -np local ranks:
separate processes over TCP (default) or goroutines (-transport inproc).
Started by a launcher (KIZUNA_RANK etc. set), it is one rank of the job.

Flags:
`

func runBench(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), benchUsage)
		fs.PrintDefaults()
	}
	def := bench.DefaultOptions()
	var (
		ops       = fs.String("op", "allreduce", "collective(s): allreduce, broadcast, reduce, allgather, reducescatter, alltoall, gather, scatter, sendrecv, barrier, a comma list, or all")
		np        = fs.Int("np", 4, "local ranks when not started by a launcher")
		minB      = fs.String("b", "8", "minimum size in bytes (K, M, G suffixes)")
		maxB      = fs.String("e", "32M", "maximum size in bytes (K, M, G suffixes)")
		factor    = fs.Int64("f", def.Factor, "size multiplier between rows")
		iters     = fs.Int("n", def.Iters, "timed iterations per size")
		warmup    = fs.Int("w", def.Warmup, "warmup iterations per size")
		check     = fs.Int("c", 1, "check results against the reference: 1 or 0")
		dtype     = fs.String("d", "float32", "data type: float32/f32, float64/f64, float16/f16, bfloat16/bf16, int8, uint8, int32, int64")
		redop     = fs.String("o", "sum", "reduction: sum, prod, min, max, avg")
		root      = fs.Int("r", 0, "root rank for rooted collectives")
		algo      = fs.String("algo", "auto", "algorithm: auto, ring, tree, hd, rd")
		transport = fs.String("transport", "auto", "local ranks' transport: tcp (processes), inproc (goroutines), auto (= tcp)")
		jsonOut   = fs.Bool("json", false, "print one JSON object per row instead of the table")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return exitCode(2)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench: unexpected argument %q", fs.Arg(0))
	}
	o := def
	var err error
	if o.Ops, err = bench.ParseOps(*ops); err != nil {
		return err
	}
	if o.MinBytes, err = bench.ParseBytes(*minB); err != nil {
		return fmt.Errorf("-b: %w", err)
	}
	if o.MaxBytes, err = bench.ParseBytes(*maxB); err != nil {
		return fmt.Errorf("-e: %w", err)
	}
	o.Factor, o.Iters, o.Warmup, o.Root, o.JSON = *factor, *iters, *warmup, *root, *jsonOut
	switch *check {
	case 0, 1:
		o.Check = *check == 1
	default:
		return fmt.Errorf("-c %d: want 0 or 1", *check)
	}
	if o.DType, err = reduce.ParseDType(*dtype); err != nil {
		return fmt.Errorf("-d: %w", err)
	}
	if o.RedOp, err = reduce.ParseOp(*redop); err != nil {
		return fmt.Errorf("-o: %w", err)
	}
	if *algo != "auto" && *algo != "" {
		if o.Algo, err = schedule.ParseAlgo(*algo); err != nil {
			return fmt.Errorf("-algo: %w", err)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if collective.InLaunchedJob() {
		return benchRank(ctx, o)
	}
	if *np < 1 {
		return fmt.Errorf("-np %d: want at least 1", *np)
	}
	if err := o.Validate(*np); err != nil {
		return err
	}
	switch strings.ToLower(*transport) {
	case "inproc":
		return benchGoroutines(ctx, *np, o)
	case "tcp", "auto", "":
		return benchProcesses(ctx, *np, args)
	}
	return fmt.Errorf("-transport %q: want tcp, inproc or auto", *transport)
}

// benchRank runs as one rank of a launched job.
func benchRank(ctx context.Context, o bench.Options) error {
	c, err := collective.NewFromEnv(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	sum, err := bench.Run(ctx, c, o, os.Stdout)
	if err != nil {
		return fmt.Errorf("rank %d: %w", c.Rank(), err)
	}
	if c.Rank() == 0 && sum.Wrong > 0 {
		fmt.Fprintf(os.Stderr, "kizuna bench: %d wrong elements\n", sum.Wrong)
		return exitCode(1)
	}
	return nil
}

// benchGoroutines runs np goroutine ranks over the in-process transport.
func benchGoroutines(ctx context.Context, np int, o bench.Options) error {
	var wrong int64
	err := collective.RunLocal(ctx, np, func(ctx context.Context, c *collective.Comm) error {
		sum, err := bench.Run(ctx, c, o, os.Stdout)
		if err == nil && c.Rank() == 0 {
			wrong = sum.Wrong
		}
		return err
	}, collective.WithTransport(collective.TransportInproc))
	if err != nil {
		return err
	}
	if wrong > 0 {
		fmt.Fprintf(os.Stderr, "kizuna bench: %d wrong elements\n", wrong)
		return exitCode(1)
	}
	return nil
}

// benchProcesses starts np copies of this program as the ranks of a local
// job over TCP.
func benchProcesses(ctx context.Context, np int, args []string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("bench: cannot find this program to start ranks: %w", err)
	}
	err = launch.RunLocal(ctx, launch.Job{
		NP: np, Argv: append([]string{exe, "bench"}, args...),
		Stdout: os.Stdout, Stderr: os.Stderr,
	})
	var ee *launch.ExitError
	if errors.As(err, &ee) {
		if ee.Status != 1 || ee.Rank != 0 {
			fmt.Fprintln(os.Stderr, "kizuna bench:", ee)
		}
		return exitCode(ee.Status)
	}
	return err
}
