package collective

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestAsyncOrder: many queued asynchronous operations of mixed kinds all
// complete with correct results, in issue order, and synchronous calls
// issued while they are pending run after them.
func TestAsyncOrder(t *testing.T) {
	for _, tr := range []string{TransportInproc, TransportTCP, TransportShm} {
		t.Run(tr, func(t *testing.T) {
			const ops = 40
			err := RunLocal(context.Background(), 3, func(ctx context.Context, c *Comm) error {
				r, n := c.Rank(), c.Size()
				bufs := make([][]float64, ops)
				gath := make([][]int32, ops)
				hs := make([]*Handle, 0, 2*ops)
				for i := range ops {
					bufs[i] = []float64{float64(i*10 + r), float64(r)}
					hs = append(hs, AllReduceAsync(c, bufs[i], bufs[i], Sum))
					gath[i] = make([]int32, n)
					hs = append(hs, AllGatherAsync(c, []int32{int32(i + r)}, gath[i]))
				}
				// A synchronous call now queues behind everything above.
				x := []float64{1}
				if err := AllReduce(ctx, c, x, x, Sum); err != nil {
					return err
				}
				for i, h := range hs {
					select {
					case <-h.Done():
					default:
						return fmt.Errorf("op %d not done after a later synchronous call returned", i)
					}
				}
				for i, h := range hs {
					if err := h.Wait(ctx); err != nil {
						return fmt.Errorf("op %d: %w", i, err)
					}
				}
				for i := range ops {
					if want := float64(n*i*10 + 3); bufs[i][0] != want || bufs[i][1] != 3 {
						return fmt.Errorf("AllReduceAsync #%d = %v; want [%v 3]", i, bufs[i], want)
					}
					for q, v := range gath[i] {
						if v != int32(i+q) {
							return fmt.Errorf("AllGatherAsync #%d = %v; want element %d = %d", i, gath[i], q, i+q)
						}
					}
				}
				if x[0] != 3 {
					return fmt.Errorf("AllReduce after async ops = %v; want 3", x[0])
				}
				// Every other asynchronous form.
				b := make([]int64, 2)
				if r == 1 {
					b = []int64{5, 6}
				}
				red := make([]int64, 2)
				a2a := make([]int32, n)
				rs := make([]int32, 1)
				sc := make([]int32, 1)
				ga := make([]int32, n)
				hs = []*Handle{
					BroadcastAsync(c, b, b, 1),
					ReduceAsync(c, []int64{int64(r), 1}, red, Sum, 0),
					AllToAllAsync(c, []int32{int32(10*r + 0), int32(10*r + 1), int32(10*r + 2)}, a2a),
					ReduceScatterAsync(c, []int32{1, 2, 3}, rs, Sum),
					ScatterAsync(c, []int32{7, 8, 9}, sc, 2),
					GatherAsync(c, []int32{int32(r)}, ga, 0),
					AllGatherVAsync(c, make([]int32, r), make([]int32, 3), []int{0, 1, 2}),
					ReduceScatterVAsync(c, make([]int32, 3), make([]int32, r), []int{0, 1, 2}, Sum),
					c.BarrierAsync(),
				}
				for i, h := range hs {
					if err := h.Wait(ctx); err != nil {
						return fmt.Errorf("async form %d: %w", i, err)
					}
				}
				if b[0] != 5 || b[1] != 6 {
					return fmt.Errorf("BroadcastAsync = %v; want [5 6]", b)
				}
				if r == 0 && (red[0] != 3 || red[1] != 3) {
					return fmt.Errorf("ReduceAsync = %v; want [3 3]", red)
				}
				for q := range n {
					if a2a[q] != int32(10*q+r) {
						return fmt.Errorf("AllToAllAsync = %v", a2a)
					}
				}
				if rs[0] != int32(n*(r+1)) || sc[0] != int32(7+r) {
					return fmt.Errorf("ReduceScatterAsync = %v, ScatterAsync = %v", rs, sc)
				}
				if r == 0 && (ga[0] != 0 || ga[1] != 1 || ga[2] != 2) {
					return fmt.Errorf("GatherAsync = %v", ga)
				}
				return nil
			}, WithTransport(tr))
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestAsyncErrors: a failing asynchronous operation reports through Wait
// and Err; Wait's context bounds only the waiting.
func TestAsyncErrors(t *testing.T) {
	release := make(chan struct{}) // rank 1 joins the second operation only after rank 0 gave up waiting
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	errs := eachRank(t, TransportInproc, 2, 30*time.Second, func(ctx context.Context, c *Comm) error {
		if c.Rank() == 0 {
			defer free() // never leave rank 1 waiting, even on an early failure
		}
		// Local misuse surfaces from Wait and breaks nothing.
		h := AllReduceAsync(c, make([]float32, 2), make([]float32, 3), Sum)
		if err := h.Wait(ctx); !errors.Is(err, ErrInvalid) || !errors.Is(h.Err(), ErrInvalid) {
			return fmt.Errorf("AllReduceAsync(bad lengths).Wait = %v, Err = %v; want ErrInvalid", err, h.Err())
		}
		// Rank 1 joins late: rank 0's Wait with a short context returns
		// its deadline while the operation goes on and later succeeds.
		buf := []float32{1}
		if c.Rank() == 1 {
			<-release
		}
		h = AllReduceAsync(c, buf, buf, Sum)
		if c.Rank() == 0 {
			wctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
			err := h.Wait(wctx)
			cancel()
			free()
			if !errors.Is(err, context.DeadlineExceeded) || h.Err() != nil {
				return fmt.Errorf("Wait(short ctx) = %v, Err = %v; want DeadlineExceeded, nil", err, h.Err())
			}
		}
		if err := h.Wait(ctx); err != nil || buf[0] != 2 {
			return fmt.Errorf("AllReduceAsync = %v, %v; want 2, nil", buf[0], err)
		}
		// A mismatch breaks the communicator; queued operations behind it
		// fail with ErrBroken.
		a := make([]float32, 4+c.Rank())
		h1 := AllReduceAsync(c, a, a, Sum)
		h2 := c.BarrierAsync()
		if err := h1.Wait(ctx); !errors.Is(err, ErrMismatch) {
			return fmt.Errorf("mismatched AllReduceAsync = %v; want ErrMismatch", err)
		}
		if err := h2.Wait(ctx); !errors.Is(err, ErrBroken) {
			return fmt.Errorf("BarrierAsync after a failure = %v; want ErrBroken", err)
		}
		return nil
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// TestAsyncClose: closing a communicator with asynchronous operations
// pending fails them (ErrClosed or the loss of the peer), stops its worker
// and does not hang.
func TestAsyncClose(t *testing.T) {
	comms, err := NewLocal(context.Background(), 2)
	if err != nil {
		t.Fatal(err)
	}
	// Only rank 0 issues: its operations wait for rank 1 forever.
	var hs []*Handle
	for range 10 {
		buf := make([]float32, 1024)
		hs = append(hs, AllReduceAsync(comms[0], buf, buf, Sum))
	}
	time.Sleep(20 * time.Millisecond)
	done := make(chan struct{})
	go func() {
		comms[0].Close()
		comms[1].Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Close with pending asynchronous operations hangs")
	}
	for i, h := range hs {
		if err := h.Err(); !errors.Is(err, ErrClosed) {
			t.Errorf("op %d after Close: err = %v; want ErrClosed", i, err)
		}
	}
	if err := AllReduceAsync(comms[0], []int8{1}, make([]int8, 1), Sum).Err(); !errors.Is(err, ErrClosed) {
		t.Errorf("AllReduceAsync after Close: err = %v; want ErrClosed", err)
	}
}
