package collective

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kizuna-hpc/kizuna/internal/diag"
)

// TestFlightRecorder: the recorder keeps the last FlightSize operations in
// order, with their kind, size, algorithm and final state.
func TestFlightRecorder(t *testing.T) {
	tests := []struct {
		name    string
		size    int // Config.FlightSize
		ops     int
		wantLen int
	}{
		{"fewer ops than slots", 16, 5, 16},
		{"ring wraps", 4, 10, 4},
		{"default size", 0, 3, DefaultFlightSize},
		{"off", -1, 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := RunLocal(context.Background(), 3, func(ctx context.Context, c *Comm) error {
				// The communicator's start may run collectives of its own
				// (gathering placement data); count from there.
				base := int(c.Flight().Total)
				buf := make([]float32, 1000)
				for i := range tt.ops {
					if i%2 == 0 {
						if err := AllReduce(ctx, c, buf, buf, Sum, WithAlgo(Ring)); err != nil {
							return err
						}
					} else if err := Broadcast(ctx, c, buf, buf, 1); err != nil {
						return err
					}
				}
				rec := c.Flight()
				if rec.Rank != c.Rank() || rec.Size != 3 || rec.Transport != TransportInproc {
					t.Errorf("Flight() = rank %d size %d transport %q; want %d, 3, inproc", rec.Rank, rec.Size, rec.Transport, c.Rank())
				}
				wantLen := min(tt.wantLen, base+tt.ops)
				if len(rec.Ops) != wantLen {
					t.Fatalf("rank %d: Flight() has %d ops; want %d", c.Rank(), len(rec.Ops), wantLen)
				}
				if tt.wantLen > 0 && rec.Total != uint64(base+tt.ops) {
					t.Errorf("Flight().Total = %d; want %d", rec.Total, base+tt.ops)
				}
				for i, op := range rec.Ops {
					seq := uint64(base + tt.ops - wantLen + i + 1)
					if seq <= uint64(base) {
						if op.Seq != seq {
							t.Errorf("rank %d: op %d has seq %d; want %d", c.Rank(), i, op.Seq, seq)
						}
						continue // the communicator's own
					}
					wantOp, wantRedOp := "allreduce", "sum"
					if (seq-uint64(base)-1)%2 == 1 {
						wantOp, wantRedOp = "broadcast", ""
					}
					if op.Seq != seq || op.Op != wantOp || op.RedOp != wantRedOp || op.State != diag.StateDone ||
						op.Count != 1000 || op.Bytes != 4000 || op.DType != "float32" || op.WaitingOn != -1 || op.End == nil || op.Error != "" {
						t.Errorf("rank %d: op %d = %+v; want #%d %s done, 1000 float32, not waiting", c.Rank(), i, op, seq, wantOp)
					}
					if op.Op == "allreduce" && (op.Algo != "ring" || op.Steps != 2*(3-1)) {
						t.Errorf("rank %d: op %d: algo %s, %d steps; want ring, 4 steps", c.Rank(), i, op.Algo, op.Steps)
					}
					if op.Op == "broadcast" && op.Root != 1 {
						t.Errorf("rank %d: op %d: root %d; want 1", c.Rank(), i, op.Root)
					}
				}
				return nil
			}, WithConfig(func(cfg *Config) { cfg.FlightSize = tt.size }))
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestFlightTimeoutDump: a rank that never calls the collective leaves the
// others waiting; when their operation times out they write their flight
// records, which show the operation still running and whom it waits for,
// and the summary names the rank that is behind.
func TestFlightTimeoutDump(t *testing.T) {
	dir := t.TempDir()
	var (
		mu   sync.Mutex
		late FlightRecord
	)
	err := RunLocal(context.Background(), 3, func(ctx context.Context, c *Comm) error {
		buf := make([]float32, 300)
		if err := AllReduce(ctx, c, buf, buf, Sum, WithAlgo(Ring)); err != nil {
			return err
		}
		if c.Rank() == 2 { // skips the second all-reduce
			mu.Lock()
			late = c.Flight()
			mu.Unlock()
			return nil
		}
		return AllReduce(ctx, c, buf, buf, Sum, WithAlgo(Ring))
	}, WithConfig(func(cfg *Config) {
		cfg.Timeout = 300 * time.Millisecond
		cfg.FlightDir = dir
		cfg.Logger = discardLogger()
	}))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("RunLocal with rank 2 skipping an all-reduce = %v; want a timeout", err)
	}
	recs, err := diag.ReadFlights(dir)
	if err != nil {
		t.Fatal(err)
	}
	world := recs[0]
	if len(world) == 0 {
		t.Fatalf("no flight record in %s after a timeout", dir)
	}
	for r, rec := range world {
		if r == 2 {
			t.Errorf("rank 2 wrote a timeout record; it ran no operation that could time out")
		}
		cur := rec.Current()
		if rec.Reason != diag.ReasonTimeout || cur == nil {
			t.Fatalf("rank %d: record reason %q, current op %v; want timeout, a running op", r, rec.Reason, cur)
		}
		// Ring on 3 ranks: rank 0 waits for its left neighbour 2 (which
		// never sends), rank 1 for rank 0 (which cannot go on).
		mu.Lock()
		want := late.Last().Seq + 1
		mu.Unlock()
		if cur.Seq != want || cur.Op != "allreduce" || cur.Waiting != "recv" || cur.WaitingOn != (r+2)%3 {
			t.Errorf("rank %d: current op = %+v; want allreduce #%d waiting to recv from rank %d", r, *cur, want, (r+2)%3)
		}
	}
	mu.Lock()
	world[2] = &late
	mu.Unlock()
	sum := diag.Summarize(world, 3, time.Now())
	done := fmt.Sprintf("allreduce #%d", late.Last().Seq)
	if !strings.Contains(sum, "behind: rank 2 is idle after "+done+" (done)") {
		t.Errorf("Summarize(...) =\n%s\nwant it to name rank 2 as behind, idle after %s", sum, done)
	}
	for r := range 2 {
		if _, ok := world[r]; ok && !strings.Contains(sum, fmt.Sprintf("rank %d waits in allreduce #%d (ring, 1200 B, step", r, late.Last().Seq+1)) {
			t.Errorf("Summarize(...) =\n%s\nwant rank %d waiting in the next all-reduce", sum, r)
		}
	}
}

// TestFlightSignalDump: a communicator made from the environment writes
// its record when it starts, on SIGUSR1 and when it closes.
func TestFlightSignalDump(t *testing.T) {
	dir := t.TempDir()
	comms, err := NewLocal(context.Background(), 2, WithConfig(func(cfg *Config) {
		cfg.dumpOnSignal = true // as NewFromEnv sets it
		cfg.FlightDir = dir
		cfg.Logger = discardLogger()
	}))
	if err != nil {
		t.Fatal(err)
	}
	closeAll := func() {
		for r := len(comms) - 1; r >= 0; r-- {
			comms[r].Close()
		}
	}
	read := func(rank int) *diag.FlightRecord {
		b, err := os.ReadFile(filepath.Join(dir, diag.FlightFile(rank, 0)))
		if err != nil {
			return nil
		}
		rec := new(diag.FlightRecord)
		if err := json.Unmarshal(b, rec); err != nil {
			t.Fatalf("rank %d's record: %v", rank, err)
		}
		return rec
	}
	for r := range comms {
		if rec := read(r); rec == nil || rec.Reason != diag.ReasonStart {
			closeAll()
			t.Fatalf("rank %d: record at start = %+v; want reason %q", r, rec, diag.ReasonStart)
		}
	}
	err = runOn(comms, func(ctx context.Context, c *Comm) error {
		return c.Barrier(ctx)
	})
	if err != nil {
		closeAll()
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		closeAll()
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for r := range comms {
		for {
			rec := read(r)
			if rec != nil && rec.Reason == diag.ReasonSignal {
				if last := rec.Last(); last == nil || last.Op != "barrier" || last.State != diag.StateDone {
					t.Errorf("rank %d: record after SIGUSR1 has ops %+v; want a barrier last, done", r, rec.Ops)
				}
				break
			}
			if time.Now().After(deadline) {
				closeAll()
				t.Fatalf("rank %d wrote no record within 10s of SIGUSR1", r)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	closeAll()
	for r := range comms {
		if rec := read(r); rec == nil || rec.Reason != diag.ReasonClose {
			t.Errorf("rank %d: record after Close = %+v; want reason %q", r, rec, diag.ReasonClose)
		}
	}
}

// runOn calls fn on every communicator in its own goroutine and joins the
// errors.
func runOn(comms []*Comm, fn func(ctx context.Context, c *Comm) error) error {
	errs := make([]error, len(comms))
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Go(func() { errs[r] = fn(context.Background(), c) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestFlightP2P: sends and receives are recorded apart from collectives,
// with peer and tag; one blocked shows in the summary with whom it waits
// for, and fails when the communicator closes.
func TestFlightP2P(t *testing.T) {
	comms, err := NewLocal(context.Background(), 2)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	buf := make([]float32, 4)
	if err := Send(ctx, comms[0], buf, 1, 7); err != nil {
		t.Fatal(err)
	}
	if err := Recv(ctx, comms[1], buf, 0, 7); err != nil {
		t.Fatal(err)
	}
	blocked := make(chan error, 1)
	go func() { blocked <- Recv(ctx, comms[1], buf, 0, 9) }()
	var rec FlightRecord
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec = comms[1].Flight()
		if len(rec.Blocked()) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rank 1's record never showed the blocked receive: %+v", rec.P2P)
		}
		time.Sleep(time.Millisecond)
	}
	if len(rec.P2P) != 2 {
		t.Fatalf("rank 1's P2P = %+v; want 2 receives", rec.P2P)
	}
	done, b := rec.P2P[0], rec.P2P[1]
	if done.Op != "recv" || done.Seq != 0 || done.Tag != 7 || done.Peer != 0 || done.State != diag.StateDone || done.Bytes != 16 || done.DType != "float32" {
		t.Errorf("first receive = %+v; want recv #0 tag 7 from 0, 16 bytes, done", done)
	}
	if b.Op != "recv" || b.Tag != 9 || b.State != diag.StateRunning || b.WaitingOn != 0 || b.Waiting != "recv" {
		t.Errorf("blocked receive = %+v; want recv tag 9 running, waiting on rank 0", b)
	}
	r0 := comms[0].Flight()
	if len(r0.P2P) != 1 || r0.P2P[0].Op != "send" || r0.P2P[0].Peer != 1 || r0.P2P[0].Tag != 7 || r0.P2P[0].State != diag.StateDone {
		t.Errorf("rank 0's P2P = %+v; want one send to 1 with tag 7, done", r0.P2P)
	}
	sum := diag.Summarize(map[int]*FlightRecord{0: &r0, 1: &rec}, 2, time.Time{})
	if !strings.Contains(sum, "rank 1 is blocked in recv #0 (tag 9, 16 B) from rank 0; rank 0 is idle after") {
		t.Errorf("Summarize(...) =\n%s\nwant rank 1 blocked in a receive from rank 0", sum)
	}
	comms[1].Close()
	if err := <-blocked; !errors.Is(err, ErrClosed) {
		t.Errorf("blocked Recv after Close = %v; want ErrClosed", err)
	}
	if got := comms[1].Flight().P2P[1]; got.State != diag.StateFailed || got.Error == "" || got.End == nil {
		t.Errorf("receive failed by Close recorded as %+v; want failed with its error", got)
	}
	comms[0].Close()
}

// TestFlightSplit: a split communicator records its own operations, under
// its own id.
func TestFlightSplit(t *testing.T) {
	err := RunLocal(context.Background(), 4, func(ctx context.Context, c *Comm) error {
		sub, err := c.Split(ctx, c.Rank()%2, c.Rank())
		if err != nil {
			return err
		}
		defer sub.Close()
		buf := make([]float32, 10)
		if err := AllReduce(ctx, sub, buf, buf, Sum); err != nil {
			return err
		}
		rec := sub.Flight()
		last := rec.Last()
		if rec.Comm == 0 || rec.Size != 2 || last == nil || last.Op != "allreduce" || last.Count != 10 || last.State != diag.StateDone {
			t.Errorf("rank %d: split communicator's Flight() = comm %d size %d last %+v; want its own id, size 2, the all-reduce done", c.Rank(), rec.Comm, rec.Size, last)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestNowNano: the flight recorder's clock tells the wall time (to within
// the time between the reads) and never goes back. NTP's slewing moves the
// wall and monotonic clocks together; a step of the wall clock since the
// package started (settimeofday, a virtual machine resumed) separates them
// by design, and then the test cannot compare and is skipped.
func TestNowNano(t *testing.T) {
	if step := time.Now().Round(0).Sub(clockStart.Round(0)) - time.Since(clockStart); step > time.Millisecond || step < -time.Millisecond {
		t.Skipf("the wall clock has been stepped by %v since the package started", step)
	}
	prev := nowNano()
	for i := range 1000 {
		before := time.Now().UnixNano()
		got := nowNano()
		after := time.Now().UnixNano()
		const slack = int64(time.Millisecond)
		if got < before-slack || got > after+slack {
			t.Fatalf("read %d: nowNano() = %d, outside the wall clock's [%d, %d]", i, got, before, after)
		}
		if got < prev {
			t.Fatalf("read %d: nowNano() went back from %d to %d", i, prev, got)
		}
		prev = got
	}
}

var clockSink int64

// BenchmarkClock compares nowNano with the time.Now it replaced.
func BenchmarkClock(b *testing.B) {
	b.Run("time.Now", func(b *testing.B) {
		for b.Loop() {
			clockSink += time.Now().UnixNano()
		}
	})
	b.Run("nowNano", func(b *testing.B) {
		for b.Loop() {
			clockSink += nowNano()
		}
	})
}
