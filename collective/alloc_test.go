package collective

import (
	"context"
	"fmt"
	"runtime"
	"testing"
)

// allocOp is one operation on preallocated buffers, for the steady-state
// allocation tests. small has blockElems elements, big Size times that.
type allocOp struct {
	name string
	call func(ctx context.Context, c *Comm, small, big []float32) error
}

// allocOps lists every collective operation (each algorithm it has), on
// buffers that a rank allocates once.
func allocOps() []allocOp {
	ops := []allocOp{}
	for _, algo := range []Algo{Ring, Tree, HalvingDoubling, RecursiveDoubling} {
		ops = append(ops, allocOp{"AllReduce/" + algo.String(), func(ctx context.Context, c *Comm, small, _ []float32) error {
			return AllReduce(ctx, c, small, small, Sum, WithAlgo(algo))
		}})
	}
	for _, algo := range []Algo{Ring, Tree} {
		ops = append(ops,
			allocOp{"Broadcast/" + algo.String(), func(ctx context.Context, c *Comm, small, _ []float32) error {
				return Broadcast(ctx, c, small, small, 1, WithAlgo(algo))
			}},
			allocOp{"Reduce/" + algo.String(), func(ctx context.Context, c *Comm, small, big []float32) error {
				return Reduce(ctx, c, small, big[:len(small)], Sum, 1, WithAlgo(algo))
			}})
	}
	return append(ops,
		allocOp{"AllGather", func(ctx context.Context, c *Comm, small, big []float32) error {
			return AllGather(ctx, c, small, big)
		}},
		allocOp{"ReduceScatter", func(ctx context.Context, c *Comm, small, big []float32) error {
			return ReduceScatter(ctx, c, big, small, Sum)
		}},
		allocOp{"AllToAll", func(ctx context.Context, c *Comm, _, big []float32) error {
			return AllToAll(ctx, c, big, big)
		}},
		allocOp{"Gather", func(ctx context.Context, c *Comm, small, big []float32) error {
			return Gather(ctx, c, small, big, 1)
		}},
		allocOp{"Scatter", func(ctx context.Context, c *Comm, small, big []float32) error {
			return Scatter(ctx, c, big, small, 1)
		}},
		allocOp{"Barrier", func(ctx context.Context, c *Comm, _, _ []float32) error {
			return c.Barrier(ctx)
		}},
	)
}

// measureAllocs runs op on c (every rank calls it) and, on the one rank
// of the process that passes measure, returns testing.AllocsPerRun of it
// after a warm-up; the other ranks run it as often. (AllocsPerRun sets
// GOMAXPROCS, so two must not run at once.)
//
// world (c itself, or the communicator c was split from) holds every rank
// of the process at the start and end of the measurement, so that no
// other operation runs in it.
func measureAllocs(ctx context.Context, c, world *Comm, op allocOp, blockElems int, measure bool) (float64, error) {
	const runs = 50
	small := make([]float32, blockElems)
	big := make([]float32, blockElems*c.Size())
	var err error
	// Each call ends with a barrier, so that no rank runs operations
	// ahead of the others: a rooted operation's root could otherwise be
	// runs operations ahead, its frames held as unexpected, and the pooled
	// buffers holding them would count as allocations of the calls that
	// first need that many.
	call := func() {
		if e := op.call(ctx, c, small, big); e != nil && err == nil {
			err = e
		}
		if e := c.Barrier(ctx); e != nil && err == nil {
			err = e
		}
	}
	for range 10 { // warm up: schedules, staging, pools (spread over Ps)
		call()
	}
	if err != nil {
		return 0, err
	}
	if err := world.Barrier(ctx); err != nil {
		return 0, err
	}
	var avg float64
	if measure {
		avg = testing.AllocsPerRun(runs, call)
	} else {
		for range runs + 1 { // AllocsPerRun calls once more to warm up
			call()
		}
	}
	if err != nil {
		return 0, err
	}
	// Hold the other ranks until the measuring one has read its counters:
	// their next operation (a new schedule) must not count in this one.
	return avg, world.Barrier(ctx)
}

// TestSteadyStateAllocs: once a communicator has run an operation of a
// given shape, repeating it allocates nothing, on any rank, for every
// collective and algorithm over every transport (schedules are cached,
// receive records and staging reused, the timeout is one reusable timer,
// options are values).
func TestSteadyStateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's sync.Pool drops items at random; run without -race")
	}
	// Every rank runs with GOMAXPROCS=1 from the start: testing.AllocsPerRun
	// sets GOMAXPROCS to 1, and a sync.Pool drops its per-P caches when
	// GOMAXPROCS changes, so the transport's pooled buffers for early
	// frames, filled during the warm-up, would be lost and refilled inside
	// the measurement.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const blockElems = 4 << 10 // 16 KiB per block: several chunks with small chunk sizes
	for _, tr := range []string{TransportInproc, TransportTCP, TransportShm} {
		t.Run(tr, func(t *testing.T) {
			ops := allocOps()
			avgs := make([]float64, len(ops))
			err := RunLocal(context.Background(), 4, func(ctx context.Context, c *Comm) error {
				for i, op := range ops {
					avg, err := measureAllocs(ctx, c, c, op, blockElems, c.Rank() == 0)
					if err != nil {
						return fmt.Errorf("%s: %w", op.name, err)
					}
					avgs[i] = avg
				}
				return nil
			}, WithTransport(tr), WithConfig(func(cfg *Config) { cfg.ChunkBytes = 4 << 10 }))
			if err != nil {
				t.Fatal(err)
			}
			for i, op := range ops {
				// The count covers every rank's goroutines; allow a stray
				// runtime allocation, not one per operation.
				if avgs[i] >= 1 {
					t.Errorf("%s over %s allocates %v times per call in steady state; want 0", op.name, tr, avgs[i])
				}
			}
		})
	}
}

// TestSteadyStateAllocsSplit: the same holds on a communicator made by
// Split, whose frames share the parent's endpoint.
func TestSteadyStateAllocsSplit(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's sync.Pool drops items at random; run without -race")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // as in TestSteadyStateAllocs
	ops := allocOps()
	avgs := make([]float64, len(ops))
	err := RunLocal(context.Background(), 8, func(ctx context.Context, c *Comm) error {
		sub, err := c.Split(ctx, c.Rank()%2, c.Rank())
		if err != nil {
			return err
		}
		defer sub.Close()
		for i, op := range ops {
			avg, err := measureAllocs(ctx, sub, c, op, 1<<10, c.Rank() == 0)
			if err != nil {
				return fmt.Errorf("%s: %w", op.name, err)
			}
			if c.Rank() == 0 {
				avgs[i] = avg
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, op := range ops {
		if avgs[i] >= 1 {
			t.Errorf("%s on a split communicator allocates %v times per call in steady state; want 0", op.name, avgs[i])
		}
	}
}
