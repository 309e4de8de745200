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
		fmt.Fprintln(os.Stderr, "tpmlp:", err)
		os.Exit(1)
	}
}

func run() (err error) {
	var c config
	flag.IntVar(&c.TP, "tp", 1, "tensor-parallel size (ranks that share one copy of the model)")
	flag.IntVar(&c.DP, "dp", 1, "data-parallel size (model copies, each on a part of the batch)")
	flag.IntVar(&c.Steps, "steps", 50, "SGD steps")
	flag.IntVar(&c.Hidden, "hidden", 64, "hidden units (split over -tp)")
	flag.IntVar(&c.Batch, "batch", 32, "global batch size (split over -dp)")
	flag.Uint64Var(&c.Seed, "seed", 1, "seed of the parameters and the data")
	flag.IntVar(&c.In, "in", 16, "input features")
	flag.IntVar(&c.Out, "out", 4, "output features")
	flag.Float64Var(&c.LR, "lr", 0.2, "SGD learning rate")
	flag.IntVar(&c.BucketBytes, "bucket-bytes", 4096, "gradient bucket cap in bytes (0: 25 MiB)")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var w *collective.Comm
	if collective.InLaunchedJob() {
		if w, err = collective.NewFromEnv(ctx); err != nil {
			return err
		}
	} else { // run alone: a job of one rank
		cs, err := collective.NewLocal(ctx, 1)
		if err != nil {
			return err
		}
		w = cs[0]
	}
	defer func() { err = errors.Join(err, w.Close()) }()
	if _, err := train(ctx, w, c, os.Stdout); err != nil {
		return fmt.Errorf("rank %d: %w", w.Rank(), err)
	}
	return nil
}
