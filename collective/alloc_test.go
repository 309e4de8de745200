package collective

import (
	"context"
	"fmt"
	"testing"
)

// TestSteadyStateAllocs: once a communicator has run an operation of a
// given shape, repeating it allocates nothing, on any rank, for every
// algorithm (schedules are cached, receive records and staging reused, the
// timeout is one reusable timer, options are values).
func TestSteadyStateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's sync.Pool drops items at random; run without -race")
	}
	const runs = 50
	for _, tr := range []string{TransportInproc, TransportTCP} {
		for _, algo := range []Algo{Ring, Tree, HalvingDoubling, RecursiveDoubling} {
			t.Run(fmt.Sprintf("%s/%s", tr, algo), func(t *testing.T) {
				var avg float64
				err := RunLocal(context.Background(), 4, func(ctx context.Context, c *Comm) error {
					buf := make([]float32, 16<<10)
					opt := WithAlgo(algo)
					var err error
					call := func() {
						if e := AllReduce(ctx, c, buf, buf, Sum, opt); e != nil && err == nil {
							err = e
						}
					}
					for range 3 { // warm up: schedules, staging, pools
						call()
					}
					if err := c.Barrier(ctx); err != nil {
						return err
					}
					if c.Rank() == 0 {
						avg = testing.AllocsPerRun(runs, call)
					} else {
						for range runs + 1 { // AllocsPerRun calls once more to warm up
							call()
						}
					}
					return err
				}, WithTransport(tr))
				if err != nil {
					t.Fatal(err)
				}
				// The count covers every rank's goroutines; allow a stray
				// runtime allocation, not one per operation.
				if avg >= 1 {
					t.Errorf("AllReduce(%s, %s) allocates %v times per call in steady state; want 0", tr, algo, avg)
				}
			})
		}
	}
}
