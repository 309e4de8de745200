package bench

import (
	"context"
	"fmt"
	"testing"

	"github.com/kizuna-hpc/kizuna/collective"
)

// BenchmarkLatency measures the small-message path: an 8-byte float32
// AllReduce on 2 and 4 goroutine ranks over loopback TCP (recursive
// doubling, what the cost model picks for tiny sizes), one operation per
// iteration, timed on rank 0. Compare runs with benchstat:
//
//	go test -run '^$' -bench Latency -benchtime 5000x -count 6 ./bench/ > new.txt
//	benchstat old.txt new.txt
//
// The ranks share one process (and GOMAXPROCS), unlike kizuna bench's
// separate processes, so the absolute numbers differ from kizuna bench's
// and the TCP transport's inline reads (KIZUNA_TCP_SPIN) are off, as for
// every process with several ranks; the benchmark is for before/after
// comparisons of the per-message path. docs/performance.md ("Latency")
// measures the processes with kizuna bench.
func BenchmarkLatency(b *testing.B) {
	for _, np := range []int{2, 4} {
		for _, tr := range []string{collective.TransportTCP} {
			b.Run(fmt.Sprintf("%s/np=%d/8", tr, np), func(b *testing.B) {
				benchLatency(b, tr, np, 8)
			})
		}
	}
}

func benchLatency(b *testing.B, tr string, np, size int) {
	b.ReportAllocs()
	err := collective.RunLocal(context.Background(), np, func(ctx context.Context, c *collective.Comm) error {
		buf := make([]float32, size/4)
		for range 10 { // warm up: schedules, buffers
			if err := collective.AllReduce(ctx, c, buf, buf, collective.Sum); err != nil {
				return err
			}
		}
		if err := c.Barrier(ctx); err != nil {
			return err
		}
		if c.Rank() == 0 {
			b.ResetTimer()
		}
		for range b.N {
			if err := collective.AllReduce(ctx, c, buf, buf, collective.Sum); err != nil {
				return err
			}
		}
		if c.Rank() == 0 {
			b.StopTimer()
		}
		return nil
	}, collective.WithTransport(tr))
	if err != nil {
		b.Fatal(err)
	}
}
