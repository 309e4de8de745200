package collective

import (
	"context"
	"fmt"
	"testing"

	"github.com/kizuna-hpc/kizuna/collective/schedule"
)

// BenchmarkDiagOverhead: all-reduce on 4 goroutine ranks (inproc, ring)
// with the diagnosis hooks off, with the flight recorder (the default),
// with metrics too, and with the timeline too.
//
//	go test -run '^$' -bench DiagOverhead -count 6 ./collective/ | tee new.txt; benchstat new.txt
func BenchmarkDiagOverhead(b *testing.B) {
	modes := []struct {
		name string
		set  func(*Config)
	}{
		{"off", func(c *Config) { c.FlightSize = -1 }},
		{"flight", func(c *Config) {}},
		{"flight+metrics", func(c *Config) { c.Metrics = true }},
		{"flight+metrics+timeline", func(c *Config) { c.Metrics = true; c.Timeline = b.TempDir() }},
	}
	for _, count := range []int{2, 256 << 10} { // 8 B and 1 MiB of float32
		for _, m := range modes {
			b.Run(fmt.Sprintf("bytes=%d/%s", count*4, m.name), func(b *testing.B) {
				b.SetBytes(int64(count * 4))
				err := RunLocal(context.Background(), 4, func(ctx context.Context, c *Comm) error {
					buf := make([]float32, count)
					opt := WithAlgo(Ring)
					if err := AllReduce(ctx, c, buf, buf, Sum, opt); err != nil {
						return err
					}
					if c.Rank() == 0 {
						b.ResetTimer()
						b.ReportAllocs()
					}
					for range b.N {
						if err := AllReduce(ctx, c, buf, buf, Sum, opt); err != nil {
							return err
						}
					}
					if c.Rank() == 0 {
						b.StopTimer() // not the timeline file written at Close
					}
					return nil
				}, WithConfig(m.set))
				if err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}

// BenchmarkObserverHooks times the hooks alone, as the executor calls them
// for one ring all-reduce on 4 ranks (6 steps, a send and a receive each),
// without any communication, so that their cost is visible on a loaded
// machine.
//
//	go test -run '^$' -bench ObserverHooks -count 6 ./collective/
func BenchmarkObserverHooks(b *testing.B) {
	modes := []struct {
		name string
		set  func(*Config)
	}{
		{"off", func(c *Config) { c.FlightSize = -1 }},
		{"flight", func(c *Config) {}},
		{"flight+metrics", func(c *Config) { c.Metrics = true }},
		{"flight+metrics+timeline", func(c *Config) { c.Metrics = true; c.Timeline = b.TempDir() }},
	}
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			comms, err := NewLocal(context.Background(), 4, WithConfig(m.set))
			if err != nil {
				b.Fatal(err)
			}
			defer func() {
				for r := len(comms) - 1; r >= 0; r-- {
					comms[r].Close()
				}
			}()
			c := comms[0]
			cl := &call{coll: schedule.AllReduce, dt: Float32, op: Sum, count: 1 << 10, algo: Ring}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				c.obs.begin(cl, uint64(i+1), 6, nowNano())
				for s := range 6 {
					c.obs.step(s)
					c.obs.sending(1)
					c.obs.sent(1, 1024)
					c.obs.receiving(3)
					c.obs.received(3, 1024)
				}
				c.obs.end(cl, nil)
				if tl := c.obs.tl; tl != nil && i%10000 == 9999 {
					tl.ev = nil // start over (growth included), below maxTimelineEvents
				}
			}
		})
	}
}
