package collective

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/kizuna-hpc/kizuna/internal/diag"
)

// TestTimeline: three ranks write their timelines; merged, every rank has
// every operation as a complete event with its arguments, every step lies
// inside its operation and every send and receive inside its step, and a
// rank's operations follow one another in time.
func TestTimeline(t *testing.T) {
	dir := t.TempDir()
	const n = 3
	err := RunLocal(context.Background(), n, func(ctx context.Context, c *Comm) error {
		buf := make([]float32, 3000)
		if err := AllReduce(ctx, c, buf, buf, Sum, WithAlgo(Ring)); err != nil {
			return err
		}
		if err := Broadcast(ctx, c, buf, buf, 0); err != nil {
			return err
		}
		all := make([]float32, 3000*n)
		return AllGather(ctx, c, buf, all)
	}, WithConfig(func(cfg *Config) { cfg.Timeline = dir }))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	files, err := diag.MergeTimelines(dir, &out)
	if err != nil || files != n {
		t.Fatalf("MergeTimelines = %d, %v; want %d files", files, err, n)
	}
	var tr diag.Trace
	if err := json.Unmarshal(out.Bytes(), &tr); err != nil {
		t.Fatalf("merged timeline is not JSON: %v", err)
	}
	type key struct {
		pid int
		seq float64
	}
	ops := map[key]diag.TraceEvent{}
	steps := map[key][]diag.TraceEvent{}
	var ios []diag.TraceEvent
	names := map[int]bool{}
	for _, e := range tr.TraceEvents {
		if e.Ph == "M" {
			if e.Name == "process_name" {
				names[e.Pid] = true
			}
			continue
		}
		if e.Ph != "X" || e.Dur < 0 || e.Ts <= 0 {
			t.Fatalf("event %+v: want a complete event with a positive timestamp", e)
		}
		seq, _ := e.Args["seq"].(float64)
		switch e.Cat {
		case "op":
			ops[key{e.Pid, seq}] = e
		case "step":
			steps[key{e.Pid, seq}] = append(steps[key{e.Pid, seq}], e)
		case "send", "recv":
			ios = append(ios, e)
		default:
			t.Errorf("event %+v: unknown category", e)
		}
	}
	wantOps := []string{"allreduce", "broadcast", "allgather"}
	for r := range n {
		if !names[r] {
			t.Errorf("rank %d: no process_name metadata", r)
		}
		// The communicator's start may run collectives of its own first.
		last := 0
		for k := range ops {
			if k.pid == r {
				last = max(last, int(k.seq))
			}
		}
		if last < len(wantOps) {
			t.Fatalf("rank %d: %d operations; want at least %d", r, last, len(wantOps))
		}
		prevEnd := 0.0
		for s := 1; s <= last; s++ {
			e, ok := ops[key{r, float64(s)}]
			if !ok {
				t.Fatalf("rank %d: no op #%d", r, s)
			}
			if e.Ts < prevEnd {
				t.Errorf("rank %d: op #%d starts at %v before the previous one ends at %v", r, s, e.Ts, prevEnd)
			}
			prevEnd = e.Ts + e.Dur
		}
		for i, name := range wantOps {
			seq := last - len(wantOps) + i + 1
			e := ops[key{r, float64(seq)}]
			if e.Name != name {
				t.Fatalf("rank %d: op #%d = %+v; want %s", r, seq, e, name)
			}
			if e.Args["ok"] != true || e.Args["dtype"] != "float32" || e.Args["algo"] == "" {
				t.Errorf("rank %d: %s args = %v; want ok, float32, an algorithm", r, name, e.Args)
			}
			if name == "allreduce" && (e.Args["algo"] != "ring" || e.Args["bytes"] != float64(12000)) {
				t.Errorf("rank %d: allreduce args = %v; want ring, 12000 bytes", r, e.Args)
			}
			st := steps[key{r, float64(seq)}]
			if len(st) == 0 {
				t.Errorf("rank %d: op #%d has no steps", r, seq)
			}
			for _, s := range st {
				if !inside(s, e) {
					t.Errorf("rank %d: step %+v outside its op %+v", r, s, e)
				}
			}
		}
	}
	if len(ios) == 0 {
		t.Fatal("no send or recv events")
	}
	for _, io := range ios {
		seq, _ := io.Args["seq"].(float64)
		step, _ := io.Args["step"].(float64)
		found := false
		for _, s := range steps[key{io.Pid, seq}] {
			if s.Args["step"] == step && inside(io, s) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s event %+v is not inside step %v of op #%v", io.Cat, io, step, seq)
		}
		if p, _ := io.Args["peer"].(float64); int(p) == io.Pid || p < 0 || p >= n {
			t.Errorf("%s event %+v: peer %v; want another rank", io.Cat, io, p)
		}
	}
}

// inside reports whether a lies within b (timestamps in microseconds,
// allowing for float rounding).
func inside(a, b diag.TraceEvent) bool {
	const eps = 0.05
	return a.Pid == b.Pid && a.Tid == b.Tid && a.Ts >= b.Ts-eps && a.Ts+a.Dur <= b.Ts+b.Dur+eps
}
