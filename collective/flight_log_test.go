package collective

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kizuna-hpc/kizuna/collective/schedule"
)

// captureHandler keeps every record at or above its level.
type captureHandler struct {
	mu    *sync.Mutex
	recs  *[]slog.Record
	attrs []slog.Attr
	level slog.Level
}

func newCapture(level slog.Level) *captureHandler {
	return &captureHandler{mu: new(sync.Mutex), recs: new([]slog.Record), level: level}
}

func (h *captureHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(h.attrs...)
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.recs = append(*h.recs, r)
	return nil
}

func (h *captureHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &c
}

func (h *captureHandler) WithGroup(string) slog.Handler { return h }

// records returns the captured records with message msg, as attribute maps.
func (h *captureHandler) records(msg string) []map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []map[string]string
	for _, r := range *h.recs {
		if r.Message != msg {
			continue
		}
		m := map[string]string{"level": r.Level.String()}
		r.Attrs(func(a slog.Attr) bool {
			m[a.Key] = a.Value.String()
			return true
		})
		out = append(out, m)
	}
	return out
}

// TestLogAlgorithmChoice: at info level every rank logs the algorithm the
// cost model picked the first time per collective and size class (a power
// of two), and not again for another size in the same class; the TCP
// transport logs the address it listens on.
func TestLogAlgorithmChoice(t *testing.T) {
	h := newCapture(slog.LevelInfo)
	const n = 2
	want := make([]Algo, n)
	err := RunLocal(context.Background(), n, func(ctx context.Context, c *Comm) error {
		for _, count := range []int{1000, 1001, 600, 1000, 1 << 20} { // 4000 and 4004 and 2400 bytes share a class; 4 MiB does not
			buf := make([]float32, count)
			if err := AllReduce(ctx, c, buf, buf, Sum); err != nil {
				return err
			}
		}
		a, err := c.Algorithm(schedule.AllReduce, Float32, 1000, AlgoAuto)
		want[c.Rank()] = a
		return err
	}, WithTransport(TransportTCP), WithConfig(func(cfg *Config) { cfg.Logger = slog.New(h) }))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]map[string]string{}
	for _, r := range h.records("algorithm chosen") {
		if r["op"] == "allreduce" {
			got[r["rank"]] = append(got[r["rank"]], r)
		}
	}
	for r := range n {
		rs := got[strconv.Itoa(r)]
		if len(rs) != 2 {
			t.Fatalf("rank %d logged %d all-reduce algorithm choices %v; want 2 (classes [2048,4096) and [4194304,8388608))", r, len(rs), rs)
		}
		first := rs[0]
		if first["level"] != "INFO" || first["bytes"] != "4000" || first["size_class"] != "[2048,4096)" || first["algo"] != want[r].String() {
			t.Errorf("rank %d: first choice logged %v; want INFO, 4000 bytes, class [2048,4096), algo %s", r, first, want[r])
		}
		if rs[1]["bytes"] != "4194304" || rs[1]["size_class"] != "[4194304,8388608)" {
			t.Errorf("rank %d: second choice logged %v; want 4194304 bytes in [4194304,8388608)", r, rs[1])
		}
	}
	listening := h.records("tcp: listening")
	if len(listening) != n {
		t.Fatalf("%d \"tcp: listening\" lines; want %d (one per rank)", len(listening), n)
	}
	for _, l := range listening {
		if l["level"] != "INFO" || l["addr"] == "" || l["bind"] == "" {
			t.Errorf("tcp: listening line %v; want INFO with addr and bind", l)
		}
	}
}

// TestLogTimeoutFlight: without a flight directory, an operation that times
// out logs one warning saying what it was waiting for.
func TestLogTimeoutFlight(t *testing.T) {
	h := newCapture(slog.LevelWarn)
	comms, err := NewLocal(context.Background(), 2, WithConfig(func(cfg *Config) {
		cfg.Timeout = 100 * time.Millisecond
		cfg.Logger = slog.New(h)
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		comms[1].Close()
		comms[0].Close()
	}()
	buf := make([]float32, 8)
	if err := AllReduce(context.Background(), comms[0], buf, buf, Sum, WithAlgo(Ring)); err == nil {
		t.Fatal("AllReduce with rank 1 absent = nil; want a timeout")
	}
	recs := h.records("flight recorder (set " + EnvFlightDir + " for the full record)")
	if len(recs) != 1 {
		t.Fatalf("%d flight-recorder warnings; want 1", len(recs))
	}
	r := recs[0]
	if r["reason"] != "timeout" || r["op"] != "allreduce" || r["waiting_on"] != "1" || r["waiting"] != "recv" || r["rank"] != "0" {
		t.Errorf("flight-recorder warning %v; want rank 0, timeout, allreduce waiting to recv from rank 1", r)
	}
}
