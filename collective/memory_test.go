package collective

import (
	"context"
	"fmt"
	"testing"
)

// TestExecutorScratchBound checks the bound documented in doc.go ("Memory"):
// after any sequence of operations, a communicator's executor holds
//
//	scratch <= N and staging <= 4·min(C, N)
//
// bytes, where N is the largest per-call vector any of them moved (count ·
// element size for AllReduce, Broadcast and Reduce; Size · block · element
// size for the block collectives) and C is Config.ChunkBytes. It checks
// after every call, for every collective and algorithm, in place and out of
// place, over sizes from one element to many chunks, so a schedule that
// used more scratch, or an executor that over-allocated or grew with
// repetition, would fail it.
func TestExecutorScratchBound(t *testing.T) {
	type op struct {
		name string
		n    func(p, count int) int // N in elements
		call func(ctx context.Context, c *Comm, count int) error
	}
	whole := func(_, count int) int { return count }
	blocks := func(p, count int) int { return p * count }
	var ops []op
	for _, algo := range []Algo{Ring, Tree, HalvingDoubling, RecursiveDoubling} {
		ops = append(ops, op{"AllReduce/" + algo.String(), whole, func(ctx context.Context, c *Comm, count int) error {
			b := make([]float32, count)
			return AllReduce(ctx, c, b, b, Sum, WithAlgo(algo))
		}})
	}
	for _, algo := range []Algo{Ring, Tree} {
		ops = append(ops,
			op{"Broadcast/" + algo.String(), whole, func(ctx context.Context, c *Comm, count int) error {
				b := make([]float32, count)
				return Broadcast(ctx, c, b, b, 0, WithAlgo(algo))
			}},
			op{"Reduce/" + algo.String(), whole, func(ctx context.Context, c *Comm, count int) error {
				return Reduce(ctx, c, make([]float32, count), make([]float32, count), Sum, 0, WithAlgo(algo))
			}})
	}
	ops = append(ops,
		op{"AllGather", blocks, func(ctx context.Context, c *Comm, count int) error {
			return AllGather(ctx, c, make([]float32, count), make([]float32, c.Size()*count))
		}},
		op{"ReduceScatter", blocks, func(ctx context.Context, c *Comm, count int) error {
			return ReduceScatter(ctx, c, make([]float32, c.Size()*count), make([]float32, count), Sum)
		}},
		op{"ReduceScatter/in-place", blocks, func(ctx context.Context, c *Comm, count int) error {
			b := make([]float32, c.Size()*count)
			return ReduceScatter(ctx, c, b, b[c.Rank()*count:(c.Rank()+1)*count], Sum)
		}},
		op{"ReduceScatterV", blocks, func(ctx context.Context, c *Comm, count int) error {
			counts := make([]int, c.Size())
			for i := range counts {
				counts[i] = count
			}
			counts[0] = 0 // uneven blocks
			return ReduceScatterV(ctx, c, make([]float32, (c.Size()-1)*count), make([]float32, counts[c.Rank()]), counts, Sum)
		}},
		op{"AllToAll/in-place", blocks, func(ctx context.Context, c *Comm, count int) error {
			b := make([]float32, c.Size()*count)
			return AllToAll(ctx, c, b, b)
		}},
		op{"Gather", blocks, func(ctx context.Context, c *Comm, count int) error {
			return Gather(ctx, c, make([]float32, count), make([]float32, c.Size()*count), 0)
		}},
		op{"Scatter", blocks, func(ctx context.Context, c *Comm, count int) error {
			return Scatter(ctx, c, make([]float32, c.Size()*count), make([]float32, count), 0)
		}},
	)
	const es = 4 // float32
	tests := []struct {
		p, chunkBytes int
	}{
		{2, 4 << 10}, {3, 4 << 10}, {4, 1 << 10}, {5, 16 << 10},
	}
	counts := []int{1, 37, 1000, 20000}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("p=%d/chunk=%d", tt.p, tt.chunkBytes), func(t *testing.T) {
			err := RunLocal(context.Background(), tt.p, func(ctx context.Context, c *Comm) error {
				maxN := 0 // bytes
				for _, o := range ops {
					for _, count := range counts {
						if err := o.call(ctx, c, count); err != nil {
							return fmt.Errorf("%s count %d: %w", o.name, count, err)
						}
						maxN = max(maxN, o.n(tt.p, count)*es)
						e := &c.exec
						if got := cap(e.scratch); got > maxN {
							return fmt.Errorf("after %s count %d: executor scratch = %d bytes; want <= N = %d", o.name, count, got, maxN)
						}
						if got, want := cap(e.staging), 4*min(tt.chunkBytes, maxN); got > want {
							return fmt.Errorf("after %s count %d: executor staging = %d bytes; want <= 4·min(C, N) = %d", o.name, count, got, want)
						}
					}
				}
				// Repeating the largest call adds nothing.
				before := cap(c.exec.scratch) + cap(c.exec.staging)
				for range 3 {
					if err := ops[len(ops)-1].call(ctx, c, counts[len(counts)-1]); err != nil {
						return err
					}
				}
				if after := cap(c.exec.scratch) + cap(c.exec.staging); after != before {
					return fmt.Errorf("repeating Scatter changed executor memory from %d to %d bytes; want no growth", before, after)
				}
				return nil
			}, WithConfig(func(cfg *Config) { cfg.ChunkBytes = tt.chunkBytes }))
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
