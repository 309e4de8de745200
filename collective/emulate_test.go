package collective

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestEmulatedNetwork runs an all-reduce on 8 goroutine ranks under an
// emulated torus:2x2x2 of 200 MB/s links, over memory and over loopback
// TCP: the result is right, the communicator learns the emulated topology,
// and the call takes at least the bandwidth term of the schedule the
// links allow (the emulator must not be faster than its links).
func TestEmulatedNetwork(t *testing.T) {
	const n, count = 8, 1 << 18 // 1 MiB of float32
	for _, tr := range []string{TransportInproc, TransportTCP} {
		t.Run(tr, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var elapsed time.Duration
			err := RunLocal(ctx, n, func(ctx context.Context, c *Comm) error {
				send := make([]float32, count)
				for i := range send {
					send[i] = float32(c.Rank() + i%7)
				}
				recv := make([]float32, count)
				start := time.Now()
				if err := AllReduce(ctx, c, send, recv, Sum, WithAlgo(Ring)); err != nil {
					return err
				}
				if c.Rank() == 0 {
					elapsed = time.Since(start)
				}
				for i, v := range recv {
					if want := float32(n*(n-1)/2 + n*(i%7)); v != want {
						t.Errorf("AllReduce(...)[%d] = %v; want %v", i, v, want)
						break
					}
				}
				if c.layout == nil || len(c.layout.Dims) != 3 {
					t.Errorf("rank %d layout = %+v; want the emulated 2x2x2 torus", c.Rank(), c.layout)
				}
				return nil
			}, WithTransport(tr), WithConfig(func(cfg *Config) { cfg.Emulate = "torus:2x2x2;bw=200M;lat=10us" }))
			if err != nil {
				t.Fatal(err)
			}
			// Ring: 2(n-1)/n of the buffer through each one-hop link.
			if min := time.Duration(2 * float64(n-1) / n * count * 4 / 200e6 * float64(time.Second)); elapsed < min {
				t.Errorf("emulated ring all-reduce of %d B took %v; want at least %v", count*4, elapsed, min)
			}
		})
	}
}

func TestEmulateSpecErrors(t *testing.T) {
	for _, spec := range []string{"torus:2x2;bw=x", "nosuch:4", "torus:2x2;placement=random"} {
		_, err := NewLocal(context.Background(), 4, WithConfig(func(cfg *Config) { cfg.Emulate = spec }))
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("NewLocal(Emulate %q) error %v; want ErrInvalid", spec, err)
		}
	}
}
