package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kizuna-hpc/kizuna/collective"
	"github.com/kizuna-hpc/kizuna/collective/schedule"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"8", 8, false}, {"64K", 64 << 10, false}, {"32M", 32 << 20, false}, {"1G", 1 << 30, false},
		{"2kb", 2 << 10, false}, {"", 0, true}, {"-1", 0, true}, {"12X", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseBytes(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseOps(t *testing.T) {
	tests := []struct {
		in      string
		want    int
		wantErr bool
	}{
		{"allreduce", 1, false}, {"allreduce,broadcast", 2, false}, {"all", 10, false}, {"sendrecv", 1, false}, {"allreduse", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseOps(tt.in)
		if (err != nil) != tt.wantErr || len(got) != tt.want {
			t.Errorf("ParseOps(%q) = %v, %v; want %d ops, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestBusFactor(t *testing.T) {
	tests := []struct {
		coll schedule.Coll
		n    int
		want float64
	}{
		{schedule.AllReduce, 4, 1.5}, {schedule.AllGather, 4, 0.75}, {schedule.Broadcast, 4, 1}, {schedule.AllReduce, 1, 0},
	}
	for _, tt := range tests {
		if got := BusFactor(tt.coll, tt.n); got != tt.want {
			t.Errorf("BusFactor(%s, %d) = %v; want %v", tt.coll, tt.n, got, tt.want)
		}
	}
}

// TestRunJSON: every row of a small sweep is checked and well formed, and
// busbw = algbw x factor.
func TestRunJSON(t *testing.T) {
	o := DefaultOptions()
	o.Ops, _ = ParseOps("all")
	o.MinBytes, o.MaxBytes, o.Factor, o.Iters, o.Warmup, o.JSON = 8, 4096, 8, 2, 1, true
	var out bytes.Buffer
	err := collective.RunLocal(context.Background(), 3, func(ctx context.Context, c *collective.Comm) error {
		var w bytes.Buffer
		_, err := Run(ctx, c, o, &w)
		if c.Rank() == 0 {
			out = w
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	rows := 0
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var r Row
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("row %q: %v", line, err)
		}
		rows++
		if r.Wrong != 0 {
			t.Errorf("row %+v: wrong %d", r, r.Wrong)
		}
		coll, _ := schedule.ParseColl(r.Op)
		if r.Op == "sendrecv" {
			coll = schedule.SendRecv
		}
		if want := r.AlgBW * BusFactor(coll, 3); fmt.Sprintf("%.6g", r.BusBW) != fmt.Sprintf("%.6g", want) {
			t.Errorf("row %s %d: busbw %v; want algbw x factor = %v", r.Op, r.Bytes, r.BusBW, want)
		}
	}
	// 9 ops x sizes 8, 64, 512, 4096, plus one barrier row, x (out-of-place, in-place)
	if rows != (9*4+1)*2 {
		t.Errorf("got %d rows; want 74", rows)
	}
}

// BenchmarkAllReduce measures AllReduce per transport, algorithm and size on
// 4 goroutine ranks; bytes/s is the per-rank buffer size over time.
func BenchmarkAllReduce(b *testing.B) {
	for _, tr := range []string{collective.TransportInproc, collective.TransportTCP} {
		for _, algo := range []collective.Algo{collective.Ring, collective.Tree, collective.HalvingDoubling, collective.RecursiveDoubling} {
			for _, size := range []int{8, 64 << 10, 4 << 20} {
				b.Run(fmt.Sprintf("%s/%s/%d", tr, algo, size), func(b *testing.B) {
					benchAllReduce(b, tr, algo, size)
				})
			}
		}
	}
}

func benchAllReduce(b *testing.B, tr string, algo collective.Algo, size int) {
	b.SetBytes(int64(size))
	b.ReportAllocs()
	err := collective.RunLocal(context.Background(), 4, func(ctx context.Context, c *collective.Comm) error {
		buf := make([]float32, size/4)
		opt := collective.WithAlgo(algo)
		if err := collective.AllReduce(ctx, c, buf, buf, collective.Sum, opt); err != nil {
			return err
		}
		if err := c.Barrier(ctx); err != nil {
			return err
		}
		if c.Rank() == 0 {
			b.ResetTimer()
		}
		for range b.N {
			if err := collective.AllReduce(ctx, c, buf, buf, collective.Sum, opt); err != nil {
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

// TestSettle checks that the warm-up runs -w operations at a time until
// the ranks have spent Settle, the same number on every rank, and exactly
// -w without a Settle (and none with -w 0).
func TestSettle(t *testing.T) {
	tests := []struct {
		name    string
		warmup  int
		settle  time.Duration
		exact   int // -1: at least minTime, a multiple of warmup
		minTime time.Duration
	}{
		{"no settle", 3, 0, 3, 0},
		{"no warmup", 0, 20 * time.Millisecond, 0, 0},
		{"settles", 3, 20 * time.Millisecond, -1, 20 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			counts := make([]int, 3)
			elapsed := make([]time.Duration, 3)
			err := collective.RunLocal(context.Background(), 3, func(ctx context.Context, c *collective.Comm) error {
				o := Options{Warmup: tt.warmup, Settle: tt.settle}
				start := time.Now()
				err := settle(ctx, c, &o, func() error {
					counts[c.Rank()]++
					time.Sleep(100 * time.Microsecond)
					return nil
				})
				elapsed[c.Rank()] = time.Since(start)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			for r, n := range counts {
				if n != counts[0] {
					t.Fatalf("rank %d ran %d warm-up operations, rank 0 %d; want the same on every rank", r, n, counts[0])
				}
			}
			if tt.exact >= 0 {
				if counts[0] != tt.exact {
					t.Errorf("ran %d warm-up operations; want %d", counts[0], tt.exact)
				}
				return
			}
			if counts[0] == 0 || counts[0]%tt.warmup != 0 {
				t.Errorf("ran %d warm-up operations; want a positive multiple of %d", counts[0], tt.warmup)
			}
			if elapsed[0] < tt.minTime {
				t.Errorf("warm-up took %v; want at least %v", elapsed[0], tt.minTime)
			}
		})
	}
}
