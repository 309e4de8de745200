package collective

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestShrink: one rank of five dies mid-loop; the four others get an error
// naming it, shrink, and go on all-reducing on four ranks with the oracle's
// answer, renumbered densely in their old order.
func TestShrink(t *testing.T) {
	for _, tr := range []string{TransportInproc, TransportTCP} {
		t.Run(tr, func(t *testing.T) {
			const n, dead = 5, 2
			errs := eachRank(t, tr, n, 30*time.Second, func(ctx context.Context, c *Comm) error {
				old := c.Rank()
				buf := make([]float64, 1000)
				if old == dead {
					time.Sleep(50 * time.Millisecond)
					c.Close() // the process is gone: its links drop
					return nil
				}
				var err error
				for err == nil {
					for i := range buf {
						buf[i] = float64(old + i)
					}
					err = AllReduce(ctx, c, buf, buf, Sum)
				}
				if !contains(err.Error(), fmt.Sprintf("rank %d", dead)) {
					return fmt.Errorf("before shrink: err = %v; want it to name rank %d", err, dead)
				}
				s, err := c.Shrink(ctx)
				if err != nil {
					return fmt.Errorf("Shrink: %w", err)
				}
				defer s.Close()
				wantRank := old
				if old > dead {
					wantRank--
				}
				if s.Rank() != wantRank || s.Size() != n-1 {
					return fmt.Errorf("Shrink: rank %d of %d; want %d of %d", s.Rank(), s.Size(), wantRank, n-1)
				}
				for it := range 20 {
					for i := range buf {
						buf[i] = float64(old*it + i)
					}
					if err := AllReduce(ctx, s, buf, buf, Sum); err != nil {
						return fmt.Errorf("AllReduce after shrink: %w", err)
					}
					for i, v := range buf {
						want := 0.0
						for r := range n {
							if r != dead {
								want += float64(r*it + i)
							}
						}
						if v != want {
							return fmt.Errorf("AllReduce after shrink, iteration %d: buf[%d] = %v; want %v", it, i, v, want)
						}
					}
				}
				return nil
			})
			for r, err := range errs {
				if err != nil {
					t.Errorf("rank %d: %v", r, err)
				}
			}
		})
	}
}

// TestShrinkHealthy: Shrink of a healthy communicator keeps every rank, in
// order, under a new id; the old communicator stays usable.
func TestShrinkHealthy(t *testing.T) {
	errs := eachRank(t, TransportInproc, 3, 30*time.Second, func(ctx context.Context, c *Comm) error {
		s, err := c.Shrink(ctx)
		if err != nil {
			return err
		}
		defer s.Close()
		if s.Rank() != c.Rank() || s.Size() != c.Size() || s.id == c.id {
			return fmt.Errorf("Shrink = rank %d of %d, id %d; want rank %d of %d, new id", s.Rank(), s.Size(), s.id, c.Rank(), c.Size())
		}
		for _, cc := range []*Comm{s, c} {
			buf := []int64{int64(c.Rank() + 1)}
			if err := AllReduce(ctx, cc, buf, buf, Sum); err != nil {
				return err
			}
			if buf[0] != 6 {
				return fmt.Errorf("AllReduce = %d; want 6", buf[0])
			}
		}
		return nil
	})
	for r, err := range errs {
		if err != nil {
			t.Errorf("rank %d: %v", r, err)
		}
	}
}

// TestAbortUnblocksAll: Abort on one rank, from a goroutine of its own,
// ends at once every operation pending on every rank: a blocking
// collective, queued asynchronous ones, a Recv that nobody will match, and
// an operation of a communicator split from it.
func TestAbortUnblocksAll(t *testing.T) {
	const n = 3
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	comms, err := NewLocal(ctx, n, WithConfig(func(cfg *Config) { cfg.Timeout = time.Minute }))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, c := range comms {
			c.Close()
		}
	}()
	subs := make([]*Comm, n)
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			subs[r], _ = c.Split(ctx, 0, r)
		}()
	}
	wg.Wait()
	for r, s := range subs {
		if s == nil {
			t.Fatalf("rank %d: Split failed", r)
		}
	}
	start := time.Now()
	errs := make(chan error, 5*n)
	for r, c := range comms {
		wg.Add(4)
		go func() { // a collective that rank 0 never joins
			defer wg.Done()
			if r == 0 {
				errs <- ErrAborted
				return
			}
			buf := make([]float32, 1024)
			errs <- AllReduce(ctx, c, buf, buf, Sum)
		}()
		go func() { // asynchronous operations on the split communicator
			defer wg.Done()
			if r == 0 {
				errs <- ErrAborted
				return
			}
			buf := make([]float32, 1024)
			h1 := AllReduceAsync(subs[r], buf, buf, Sum)
			h2 := subs[r].BarrierAsync()
			errs <- errors.Join(h1.Wait(ctx), h2.Wait(ctx))
		}()
		go func() { // a receive nobody sends
			defer wg.Done()
			buf := make([]byte, 8)
			errs <- c.RecvBytes(ctx, buf, Uint8, (r+1)%n, 77)
		}()
		go func() { // a receive on the split communicator
			defer wg.Done()
			buf := make([]byte, 8)
			errs <- subs[r].RecvBytes(ctx, buf, Uint8, (r+1)%n, 78)
		}()
	}
	time.Sleep(200 * time.Millisecond) // let them block
	go comms[0].Abort()
	wg.Wait()
	close(errs)
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("Abort took %v to unblock every operation; want far below the 1m timeout", d)
	}
	i := 0
	for err := range errs {
		if !errors.Is(err, ErrAborted) {
			t.Errorf("operation %d: err = %v; want ErrAborted", i, err)
		}
		i++
	}
}
