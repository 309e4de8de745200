package collective

import (
	"context"
	"testing"
	"time"

	"github.com/kizuna-hpc/kizuna/internal/diag"
)

// TestFlightQueued: asynchronous operations waiting behind a running one
// are in the flight record in state queued, in issue order, with their
// operation and size, and are gone from it once they have run.
func TestFlightQueued(t *testing.T) {
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
	a := make([]float32, 256)
	b := make([]int32, 64)
	c := make([]float32, 32)
	// Rank 1 has not called anything: rank 0's first all-reduce blocks and
	// the other two wait behind it.
	h := []*Handle{
		AllReduceAsync(comms[0], a, a, Sum),
		BroadcastAsync(comms[0], b, b, 1),
		AllReduceAsync(comms[0], c, c, Max),
	}
	var rec FlightRecord
	for {
		rec = comms[0].Flight()
		if cur := rec.Current(); cur != nil && cur.Op == "allreduce" && cur.Count == 256 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("Flight() never showed the first all-reduce running: %+v", rec.Ops)
		}
		time.Sleep(time.Millisecond)
	}
	q := rec.Queued()
	if len(q) != 2 {
		t.Fatalf("Flight().Queued() = %+v; want the broadcast and the second all-reduce", q)
	}
	want := []diag.FlightOp{
		{Op: "broadcast", DType: "int32", Root: 1, Count: 64, Bytes: 256, State: diag.StateQueued, WaitingOn: -1},
		{Op: "allreduce", DType: "float32", RedOp: Max.String(), Count: 32, Bytes: 128, State: diag.StateQueued, WaitingOn: -1},
	}
	for i, w := range want {
		got := q[i]
		if got.Start.IsZero() || got.Start.After(time.Now()) {
			t.Errorf("queued op %d: Start = %v; want when it was queued", i, got.Start)
		}
		got.Start = time.Time{}
		if got.Seq != 0 || got.Op != w.Op || got.DType != w.DType || got.RedOp != w.RedOp || got.Root != w.Root ||
			got.Count != w.Count || got.Bytes != w.Bytes || got.State != w.State || got.WaitingOn != -1 {
			t.Errorf("queued op %d = %+v; want %+v", i, got, w)
		}
	}
	h1 := []*Handle{
		AllReduceAsync(comms[1], make([]float32, 256), make([]float32, 256), Sum),
		BroadcastAsync(comms[1], make([]int32, 64), make([]int32, 64), 1),
		AllReduceAsync(comms[1], make([]float32, 32), make([]float32, 32), Max),
	}
	for i, hh := range append(h, h1...) {
		if err := hh.Wait(ctx); err != nil {
			t.Fatalf("handle %d: Wait() = %v", i, err)
		}
	}
	rec = comms[0].Flight()
	if q := rec.Queued(); len(q) != 0 || rec.Current() != nil {
		t.Errorf("after the operations ran: Queued() = %+v, Current() = %+v; want none", q, rec.Current())
	}
	if last := rec.Last(); last == nil || last.Op != "allreduce" || last.Count != 32 || last.State != diag.StateDone {
		t.Errorf("Last() = %+v; want the second all-reduce, done", last)
	}
}
