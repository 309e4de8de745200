package bucket

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/kizuna-hpc/kizuna/collective"
)

// BenchmarkStep: one data-parallel gradient step of 64 gradients of 16 KiB
// (1 MiB in all) on 4 goroutine ranks: every gradient all-reduced on its
// own, against fused buckets of 256 KiB and of the default 25 MiB.
func BenchmarkStep(b *testing.B) {
	const ranks, ngrad, elems = 4, 64, 4096
	for _, mode := range []struct {
		name  string
		bytes int // 0: no bucketing
	}{{"separate", 0}, {"bucket=256KiB", 256 << 10}, {"bucket=25MiB", DefaultBucketBytes}} {
		b.Run(mode.name, func(b *testing.B) {
			comms, err := collective.NewLocal(context.Background(), ranks)
			if err != nil {
				b.Fatal(err)
			}
			defer func() {
				for r := ranks - 1; r >= 0; r-- {
					comms[r].Close()
				}
			}()
			type rank struct {
				grads [][]float32
				bk    *Bucketer
			}
			rs := make([]rank, ranks)
			for r, c := range comms {
				rs[r].grads = make([][]float32, ngrad)
				for i := range rs[r].grads {
					rs[r].grads[i] = make([]float32, elems)
				}
				if mode.bytes > 0 {
					if rs[r].bk, err = New(c, rs[r].grads, Config{BucketBytes: mode.bytes, Average: true}); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.SetBytes(ngrad * elems * 4)
			b.ResetTimer()
			errs := make([]error, ranks)
			var wg sync.WaitGroup
			for r, c := range comms {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx := context.Background()
					for range b.N {
						if errs[r] = step(ctx, c, rs[r].grads, rs[r].bk); errs[r] != nil {
							c.Abort()
							return
						}
					}
				}()
			}
			wg.Wait()
			for r, err := range errs {
				if err != nil {
					b.Fatal(fmt.Errorf("rank %d: %w", r, err))
				}
			}
		})
	}
}

func step(ctx context.Context, c *collective.Comm, grads [][]float32, bk *Bucketer) error {
	if bk == nil {
		for _, g := range grads {
			if err := collective.AllReduce(ctx, c, g, g, collective.Avg); err != nil {
				return err
			}
		}
		return nil
	}
	for i := len(grads) - 1; i >= 0; i-- {
		if err := bk.MarkReady(i); err != nil {
			return err
		}
	}
	return bk.Wait(ctx)
}
