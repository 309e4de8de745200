package inproc_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/kizuna-hpc/kizuna/collective"
)

// BenchmarkAllReduce measures float32 sum all-reduce among 4 goroutine ranks
// over this transport, per algorithm and size; bytes/s is the per-rank
// buffer size over time. Compare runs with benchstat.
func BenchmarkAllReduce(b *testing.B) {
	for _, algo := range []collective.Algo{collective.Ring, collective.Tree, collective.HalvingDoubling} {
		for _, size := range []int{1 << 20, 16 << 20} {
			b.Run(fmt.Sprintf("%s/%dMiB", algo, size>>20), func(b *testing.B) {
				benchAllReduce(b, algo, size)
			})
		}
	}
}

func benchAllReduce(b *testing.B, algo collective.Algo, size int) {
	b.SetBytes(int64(size))
	b.ReportAllocs()
	err := collective.RunLocal(context.Background(), 4, func(ctx context.Context, c *collective.Comm) error {
		buf := make([]float32, size/4)
		opt := collective.WithAlgo(algo)
		if err := collective.AllReduce(ctx, c, buf, buf, collective.Sum, opt); err != nil {
			return err
		}
		if err := c.Barrier(ctx); err != nil {
			return err
		}
		if c.Rank() == 0 {
			b.ResetTimer()
		}
		for range b.N {
			if err := collective.AllReduce(ctx, c, buf, buf, collective.Sum, opt); err != nil {
				return err
			}
		}
		if c.Rank() == 0 {
			b.StopTimer()
		}
		return nil
	}, collective.WithTransport(collective.TransportInproc))
	if err != nil {
		b.Fatal(err)
	}
}
