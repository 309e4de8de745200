package collective

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// benchRanks runs fn b.N times on each of n goroutine ranks, timing only
// the loop.
func benchRanks(b *testing.B, n int, tr string, fn func(ctx context.Context, c *Comm) error) {
	comms, err := NewLocal(context.Background(), n, WithTransport(tr))
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		for r := n - 1; r >= 0; r-- {
			comms[r].Close()
		}
	}()
	b.ResetTimer()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range b.N {
				if errs[r] = fn(context.Background(), c); errs[r] != nil {
					c.Abort()
					return
				}
			}
		}()
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			b.Fatalf("rank %d: %v", r, err)
		}
	}
}

// BenchmarkSplit: creating (and closing) a sub-communicator of half the
// ranks.
func BenchmarkSplit(b *testing.B) {
	for _, tr := range []string{TransportInproc, TransportTCP} {
		b.Run(tr, func(b *testing.B) {
			benchRanks(b, 4, tr, func(ctx context.Context, c *Comm) error {
				sub, err := c.Split(ctx, c.Rank()%2, 0)
				if err != nil {
					return err
				}
				return sub.Close()
			})
		})
	}
}

// BenchmarkAllGatherV: AllGatherV with equal counts against AllGather of
// the same blocks (256 KiB per rank, 4 ranks), and with uneven counts.
func BenchmarkAllGatherV(b *testing.B) {
	const n, elems = 4, 64 << 10
	for _, mode := range []string{"allgather", "allgatherv-equal", "allgatherv-uneven"} {
		b.Run(mode, func(b *testing.B) {
			b.SetBytes(n * elems * 4)
			benchRanks(b, n, TransportInproc, func() func(ctx context.Context, c *Comm) error {
				var mu sync.Mutex
				bufs := map[*Comm][2][]float32{}
				return func(ctx context.Context, c *Comm) error {
					mu.Lock()
					buf, ok := bufs[c]
					if !ok {
						buf = [2][]float32{make([]float32, elems), make([]float32, n*elems)}
						bufs[c] = buf
					}
					mu.Unlock()
					switch mode {
					case "allgather":
						return AllGather(ctx, c, buf[0], buf[1])
					case "allgatherv-equal":
						return AllGatherV(ctx, c, buf[0], buf[1], []int{elems, elems, elems, elems})
					}
					counts := []int{2 * elems, 0, elems, elems}
					displ := []int{0, 2 * elems, 2 * elems, 3 * elems}[c.Rank()]
					return AllGatherV(ctx, c, buf[1][displ:displ+counts[c.Rank()]], buf[1], counts) // in place
				}
			}())
		})
	}
}

// BenchmarkAsyncQueue: the cost an asynchronous AllReduce adds over the
// synchronous one for a small message (8 float32, 4 ranks), issuing a
// window of operations before waiting.
func BenchmarkAsyncQueue(b *testing.B) {
	for _, window := range []int{0, 1, 16} {
		name := "sync"
		if window > 0 {
			name = fmt.Sprintf("async-window=%d", window)
		}
		b.Run(name, func(b *testing.B) {
			benchRanks(b, 4, TransportInproc, func(ctx context.Context, c *Comm) error {
				buf := make([]float32, 8)
				if window == 0 {
					return AllReduce(ctx, c, buf, buf, Sum)
				}
				// One benchmark iteration issues and waits for one window.
				hs := make([]*Handle, window)
				for i := range hs {
					hs[i] = AllReduceAsync(c, buf, buf, Sum)
				}
				for _, h := range hs {
					if err := h.Wait(ctx); err != nil {
						return err
					}
				}
				return nil
			})
		})
	}
}
