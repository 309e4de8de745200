package collective

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMismatchCloseAtOnce: a rank that closes its communicator the moment
// its operation fails (as a program that exits on error does) must not make
// the ranks still waiting blame it: they report the mismatch, not a closed
// connection or a lost rank.
func TestMismatchCloseAtOnce(t *testing.T) {
	const n = 4
	for _, tr := range []string{TransportTCP, TransportInproc} {
		t.Run(tr, func(t *testing.T) {
			for iter := range 15 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				comms, err := NewLocal(ctx, n, WithTransport(tr), WithConfig(func(cfg *Config) { cfg.Timeout = 20 * time.Second }))
				if err != nil {
					cancel()
					t.Fatal(err)
				}
				errs := make([]error, n)
				var wg sync.WaitGroup
				for r, c := range comms {
					wg.Add(1)
					go func() {
						defer wg.Done()
						buf := make([]float32, 1024+c.Rank()/3) // rank 3 differs: ranks 0 and 2 see the mismatch
						err := AllReduce(ctx, c, buf, buf, Sum, WithAlgo(Ring))
						if err == nil {
							err = c.Barrier(ctx)
						}
						errs[r] = err
						c.Close() // at once, as a program exiting on error
					}()
				}
				wg.Wait()
				cancel()
				for r, err := range errs {
					// Every rank names the rank that called differently.
					if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "rank 3 called allreduce(count=1025") {
						t.Errorf("iteration %d rank %d: AllReduce(mismatched counts, closing at once) = %v; want ErrMismatch naming rank 3's call", iter, r, err)
					}
				}
				if t.Failed() {
					return
				}
			}
		})
	}
}
