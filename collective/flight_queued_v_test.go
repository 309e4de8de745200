package collective

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kizuna-hpc/kizuna/internal/diag"
)

// TestFlightQueuedSyncV: a synchronous per-rank-count call that waits
// behind asynchronous operations is in the flight record in state queued,
// like a synchronous call of fixed size.
func TestFlightQueuedSyncV(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	comms, err := NewLocal(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		comms[1].Close()
		comms[0].Close()
	}()
	counts := []int{3, 5}
	// Rank 1 has not called anything: rank 0's all-reduce blocks and its
	// synchronous all-gather-v waits behind it.
	h := AllReduceAsync(comms[0], make([]float32, 16), make([]float32, 16), Sum)
	errc := make(chan error, 1)
	go func() {
		errc <- AllGatherV(ctx, comms[0], make([]int64, 3), make([]int64, 8), counts)
	}()
	var q []diag.FlightOp
	for {
		rec := comms[0].Flight()
		q = rec.Queued()
		if cur := rec.Current(); cur != nil && cur.Op == "allreduce" && len(q) == 1 {
			break // the all-reduce has left the queue: what waits is the all-gather-v
		}
		if ctx.Err() != nil {
			t.Fatalf("Flight().Queued() = %+v; want the all-gather-v", q)
		}
		time.Sleep(time.Millisecond)
	}
	want := diag.FlightOp{Op: "allgatherv", DType: "int64", Count: 8, Bytes: 64, State: diag.StateQueued, WaitingOn: -1}
	if got := q[0]; got.Op != want.Op || got.DType != want.DType || got.Count != want.Count ||
		got.Bytes != want.Bytes || got.State != want.State || got.RedOp != "" {
		t.Errorf("Flight().Queued()[0] = %+v; want %+v", got, want)
	}
	h1 := AllReduceAsync(comms[1], make([]float32, 16), make([]float32, 16), Sum)
	if err := AllGatherV(ctx, comms[1], make([]int64, 5), make([]int64, 8), counts); err != nil {
		t.Fatalf("rank 1: AllGatherV() = %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("rank 0: AllGatherV() = %v", err)
	}
	for i, hh := range []*Handle{h, h1} {
		if err := hh.Wait(ctx); err != nil {
			t.Fatalf("handle %d: Wait() = %v", i, err)
		}
	}
}

// TestFlightRedOpV: a finished reduce-scatter-v is in the flight record
// with its reduction op, as a reduce-scatter is.
func TestFlightRedOpV(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	counts := []int{2, 3}
	err := RunLocal(ctx, 2, func(ctx context.Context, c *Comm) error {
		send := make([]float32, 5)
		if err := ReduceScatterV(ctx, c, send, make([]float32, counts[c.Rank()]), counts, Max); err != nil {
			return err
		}
		rec := c.Flight()
		if last := rec.Last(); last == nil || last.Op != "reducescatterv" || last.RedOp != Max.String() {
			return fmt.Errorf("rank %d: Flight().Last() = %+v; want the reducescatterv with RedOp %s", c.Rank(), last, Max)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
