package collective

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/kizuna-hpc/kizuna/collective/reduce"
	"github.com/kizuna-hpc/kizuna/collective/schedule"
	"github.com/kizuna-hpc/kizuna/internal/diag"
)

// Timeline event kinds.
const (
	evOp uint8 = iota
	evStep
	evSend
	evRecv
)

// maxTimelineEvents bounds the events one communicator keeps (about 48
// bytes each); later ones are counted as dropped.
const maxTimelineEvents = 1 << 20

// tlEvent is one timeline event as recorded: plain numbers, turned into
// JSON only when the timeline is written.
type tlEvent struct {
	kind, coll, algo, dt uint8
	failed               bool
	peer, step           int32
	seq                  uint64
	bytes                int64
	start, end           int64 // Unix ns
}

// timeline records every operation of a communicator, its steps and its
// sends and receive waits, and writes them as a Chrome trace when the
// communicator closes (KIZUNA_TIMELINE). It is used under Comm.mu.
type timeline struct {
	mu      sync.Mutex // the executor records, Close writes
	c       *Comm
	dir     string
	ev      []tlEvent
	dropped int
	op      int // index of the open operation event, -1 for none
	st      int // index of the open step event, -1 for none
}

func newTimeline(c *Comm, dir string) *timeline {
	return &timeline{c: c, dir: dir, ev: make([]tlEvent, 0, 4096), op: -1, st: -1}
}

func (t *timeline) add(e tlEvent) int {
	if len(t.ev) >= maxTimelineEvents {
		t.dropped++
		return -1
	}
	t.ev = append(t.ev, e)
	return len(t.ev) - 1
}

func (t *timeline) begin(cl *call, seq uint64, now int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.op = t.add(tlEvent{kind: evOp, coll: uint8(cl.coll), algo: uint8(cl.algo), dt: uint8(cl.dt),
		seq: seq, bytes: int64(cl.count) * int64(cl.dt.Size()), peer: -1, start: now})
	t.st = -1
}

func (t *timeline) closeStep(now int64) {
	if t.st >= 0 {
		t.ev[t.st].end = now
		t.st = -1
	}
}

func (t *timeline) step(i int, now int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closeStep(now)
	if t.op < 0 {
		return
	}
	t.st = t.add(tlEvent{kind: evStep, seq: t.ev[t.op].seq, step: int32(i), peer: -1, start: now})
}

func (t *timeline) io(kind uint8, peer, n int, start, end int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.op < 0 {
		return
	}
	step := int32(-1)
	if t.st >= 0 {
		step = t.ev[t.st].step
	}
	t.add(tlEvent{kind: kind, seq: t.ev[t.op].seq, peer: int32(peer), step: step, bytes: int64(n), start: start, end: end})
}

func (t *timeline) end(now int64, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closeStep(now)
	if t.op >= 0 {
		t.ev[t.op].end = now
		t.ev[t.op].failed = err != nil
		t.op = -1
	}
}

// trace converts the recorded events into Chrome trace events: pid is the
// rank, tid the communicator id.
func (t *timeline) trace() *diag.Trace {
	c := t.c
	pid, tid := c.rank, int(c.id)
	tr := &diag.Trace{DisplayTimeUnit: "ns", TraceEvents: make([]diag.TraceEvent, 0, len(t.ev)+2)}
	tr.TraceEvents = append(tr.TraceEvents,
		diag.TraceEvent{Name: "process_name", Ph: "M", Pid: pid, Tid: tid, Args: map[string]any{"name": "rank " + strconv.Itoa(c.rank),
			"epoch": diag.TraceEpoch.Format(time.RFC3339)}},
		diag.TraceEvent{Name: "process_sort_index", Ph: "M", Pid: pid, Tid: tid, Args: map[string]any{"sort_index": c.rank}},
		diag.TraceEvent{Name: "thread_name", Ph: "M", Pid: pid, Tid: tid, Args: map[string]any{"name": fmt.Sprintf("comm %d (%s)", c.id, c.ep.Name())}},
	)
	epoch := diag.TraceEpoch.UnixNano()
	us := func(ns int64) float64 { return float64(ns-epoch) / 1e3 }
	for _, e := range t.ev {
		if e.end == 0 {
			continue // still open: Close interrupted nothing we can time
		}
		te := diag.TraceEvent{Ph: "X", Ts: us(e.start), Dur: float64(e.end-e.start) / 1e3, Pid: pid, Tid: tid}
		switch e.kind {
		case evOp:
			coll := schedule.Coll(e.coll)
			te.Name, te.Cat = coll.String(), "op"
			te.Args = map[string]any{"seq": e.seq, "algo": schedule.Algo(e.algo).String(),
				"dtype": reduce.DType(e.dt).String(), "bytes": e.bytes, "ok": !e.failed}
		case evStep:
			te.Name, te.Cat = "step "+strconv.Itoa(int(e.step)), "step"
			te.Args = map[string]any{"seq": e.seq, "step": e.step}
		case evSend, evRecv:
			te.Name, te.Cat = "send", "send"
			if e.kind == evRecv {
				te.Name, te.Cat = "recv", "recv"
			}
			te.Name += " " + strconv.Itoa(int(e.peer))
			te.Args = map[string]any{"seq": e.seq, "step": e.step, "peer": e.peer, "bytes": e.bytes}
		}
		tr.TraceEvents = append(tr.TraceEvents, te)
	}
	if t.dropped > 0 {
		tr.TraceEvents[0].Args["dropped_events"] = t.dropped
	}
	return tr
}

// write saves the timeline as dir/timeline-rank<R>-comm<ID>.json.
func (t *timeline) write() error {
	if err := os.MkdirAll(t.dir, 0o755); err != nil {
		return fmt.Errorf("collective: timeline: %w", err)
	}
	t.mu.Lock()
	tr := t.trace()
	t.mu.Unlock()
	path := filepath.Join(t.dir, diag.TimelineFile(t.c.rank, t.c.id))
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("collective: timeline: %w", err)
	}
	werr := json.NewEncoder(f).Encode(tr)
	if err := errors.Join(werr, f.Close()); err != nil {
		return fmt.Errorf("collective: timeline %s: %w", path, err)
	}
	return nil
}
