package collective

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"os"
	"os/signal"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kizuna-hpc/kizuna/collective/reduce"
	"github.com/kizuna-hpc/kizuna/collective/schedule"
	"github.com/kizuna-hpc/kizuna/internal/diag"
)

// DefaultFlightSize is how many operations the flight recorder keeps
// unless Config.FlightSize or KIZUNA_FLIGHT_SIZE says otherwise.
const DefaultFlightSize = 1024

// Environment variables of the diagnosis tools.
const (
	EnvFlightSize  = "KIZUNA_FLIGHT_SIZE"
	EnvFlightDir   = "KIZUNA_FLIGHT_DIR"
	EnvMetricsAddr = "KIZUNA_METRICS_ADDR"
	EnvTimeline    = "KIZUNA_TIMELINE"
)

// FlightRecord is a dump of a communicator's flight recorder (see
// Comm.Flight); FlightOp is one operation in it.
type (
	FlightRecord = diag.FlightRecord
	FlightOp     = diag.FlightOp
)

// Flight-recorder states of a slot.
const (
	flQueued uint32 = iota + 1
	flRunning
	flDone
	flFailed
)

var flStateNames = [...]string{flQueued: diag.StateQueued, flRunning: diag.StateRunning, flDone: diag.StateDone, flFailed: diag.StateFailed}

// What a running operation is blocked on, packed in one atomic word so that
// marking a wait costs one store: noWait, or peer<<1 | waitRecv.
const (
	noWait   int32 = -1
	waitSend int32 = 0
	waitRecv int32 = 1
)

// flightSlot is one operation in the ring. Every field is atomic so that a
// dump (signal, HTTP, timeout) may read a slot while the operation's own
// goroutine writes it; seq is 0 while the slot is being rewritten for a new
// operation, and a reader that sees seq change under it skips the slot.
type flightSlot struct {
	seq   atomic.Uint64
	desc  atomic.Uint64 // coll | algo<<8 | dtype<<16 | redop<<24 | uint32(root)<<32
	count atomic.Int64
	bytes atomic.Int64
	start atomic.Int64 // Unix ns
	end   atomic.Int64 // Unix ns, 0 while running
	state atomic.Uint32
	steps atomic.Int32
	step  atomic.Int32
	wait  atomic.Int32 // noWait, or peer<<1 | waitSend/waitRecv
	peer  atomic.Int32 // send and recv: the other rank
	tag   atomic.Uint32
	err   atomic.Pointer[string]
}

// flightRecorder keeps a communicator's last operations in a ring of slots
// allocated once; recording an operation allocates nothing and takes no
// lock. Operations are recorded by the goroutine that holds Comm.mu; any
// goroutine may take a snapshot.
//
// Point-to-point sends and receives, which run concurrently, go to a ring
// of their own (p2p), each claiming the next slot atomically; their seq is
// stored plus one (theirs start at 0) and desc's bits 40-41 say send (1)
// or receive (2). With more of them outstanding at once than the ring
// holds, a slot may be reused while its operation still runs, which
// garbles that record, nothing else.
type flightRecorder struct {
	slots   []flightSlot
	total   atomic.Uint64 // operations recorded
	p2p     []flightSlot
	p2pNext atomic.Uint64
}

// maxP2PSlots bounds the point-to-point ring.
const maxP2PSlots = 256

func newFlightRecorder(n int) *flightRecorder {
	if n <= 0 {
		return nil
	}
	return &flightRecorder{slots: make([]flightSlot, n), p2p: make([]flightSlot, min(n, maxP2PSlots))}
}

const (
	p2pSend = 1
	p2pRecv = 2
)

// p2pBegin records the start of a send (kind p2pSend) or receive to or from
// peer, and returns its slot.
func (f *flightRecorder) p2pBegin(kind uint64, peer int, tag uint32, seq uint64, count int, dt reduce.DType, now int64) *flightSlot {
	s := &f.p2p[(f.p2pNext.Add(1)-1)%uint64(len(f.p2p))]
	s.seq.Store(0)
	s.desc.Store(uint64(schedule.SendRecv) | uint64(dt)<<16 | kind<<40)
	s.count.Store(int64(count))
	s.bytes.Store(int64(count) * int64(dt.Size()))
	s.start.Store(now)
	s.end.Store(0)
	s.peer.Store(int32(peer))
	s.tag.Store(tag)
	dir := waitSend
	if kind == p2pRecv {
		dir = waitRecv
	}
	s.wait.Store(int32(peer)<<1 | dir)
	s.err.Store(nil)
	s.state.Store(flRunning)
	s.seq.Store(seq + 1)
	return s
}

// begin records the start of operation seq and returns its slot.
func (f *flightRecorder) begin(cl *call, seq uint64, steps int, now int64) *flightSlot {
	s := &f.slots[seq%uint64(len(f.slots))]
	s.seq.Store(0)
	s.desc.Store(uint64(cl.coll) | uint64(cl.algo)<<8 | uint64(cl.dt)<<16 | uint64(cl.op)<<24 | uint64(uint32(int32(cl.root)))<<32)
	s.count.Store(int64(cl.count))
	s.bytes.Store(int64(cl.count) * int64(cl.dt.Size()))
	s.start.Store(now)
	s.end.Store(0)
	s.steps.Store(int32(steps))
	s.step.Store(0)
	s.wait.Store(noWait)
	s.err.Store(nil)
	s.state.Store(flRunning)
	s.seq.Store(seq)
	f.total.Add(1)
	return s
}

// snapshot copies the recorder's collective operations, oldest first.
func (f *flightRecorder) snapshot() []diag.FlightOp { return snapshotSlots(f.slots, false) }

// snapshotP2P copies the recorder's sends and receives, oldest first.
func (f *flightRecorder) snapshotP2P() []diag.FlightOp { return snapshotSlots(f.p2p, true) }

// snapshotSlots copies the operations in slots, in sequence order, or in
// order of start (byStart: sends and receives, numbered per peer and tag).
func snapshotSlots(slots []flightSlot, byStart bool) []diag.FlightOp {
	ops := make([]diag.FlightOp, 0, len(slots))
	for i := range slots {
		s := &slots[i]
		seq := s.seq.Load()
		if seq == 0 {
			continue
		}
		desc := s.desc.Load()
		op := diag.FlightOp{
			Seq:       seq,
			Op:        schedule.Coll(desc & 0xff).String(),
			Algo:      schedule.Algo(desc >> 8 & 0xff).String(),
			DType:     reduce.DType(desc >> 16 & 0xff).String(),
			Root:      int(int32(uint32(desc >> 32))),
			Count:     s.count.Load(),
			Bytes:     s.bytes.Load(),
			Steps:     int(s.steps.Load()),
			Step:      int(s.step.Load()),
			WaitingOn: -1,
			Start:     time.Unix(0, s.start.Load()),
		}
		if reduces(schedule.Coll(desc & 0xff)) {
			op.RedOp = reduce.Op(desc >> 24 & 0xff).String()
		}
		if kind := desc >> 40 & 3; kind != 0 { // send or receive
			op.Seq = seq - 1
			op.Op, op.Algo, op.Root = "send", "", 0
			if kind == p2pRecv {
				op.Op = "recv"
			}
			op.Peer, op.Tag = int(s.peer.Load()), s.tag.Load()
		}
		if st := s.state.Load(); int(st) < len(flStateNames) {
			op.State = flStateNames[st]
		}
		if w := s.wait.Load(); w != noWait {
			op.WaitingOn = int(w >> 1)
			op.Waiting = "send"
			if w&1 == waitRecv {
				op.Waiting = "recv"
			}
		}
		if end := s.end.Load(); end != 0 {
			t := time.Unix(0, end)
			op.End = &t
		}
		if e := s.err.Load(); e != nil {
			op.Error = *e
		}
		if s.seq.Load() != seq { // rewritten while we read it
			continue
		}
		if op.State != diag.StateRunning && op.State != diag.StateQueued {
			op.WaitingOn, op.Waiting = -1, ""
		}
		ops = append(ops, op)
	}
	// The ring is in slot order.
	slices.SortStableFunc(ops, func(a, b diag.FlightOp) int {
		if byStart {
			if c := a.Start.Compare(b.Start); c != 0 {
				return c
			}
		}
		return cmp.Compare(a.Seq, b.Seq)
	})
	return ops
}

// observer is the communicator's diagnosis hooks: the flight recorder,
// metrics and timeline, each nil when off. The executor calls its methods
// at operation start and end and around every send and receive wait; with
// everything off each call is a few nil checks. Methods other than
// snapshot/dump/close are called with Comm.mu held.
type observer struct {
	c       *Comm
	flight  *flightRecorder
	metrics *commMetrics
	tl      *timeline

	flightDir string // KIZUNA_FLIGHT_DIR: where dumps go; "" = stderr / a log line

	cur      *flightSlot // the running operation's slot
	curStart int64       // Unix ns
	sendT0   int64
	recvT0   int64

	logged map[choiceClass]bool // algorithm choices already logged (Comm.mu)

	sigCh   chan os.Signal // SIGUSR1 (nil unless the communicator dumps on signal)
	sigQuit chan struct{}
	wg      sync.WaitGroup
}

type choiceClass struct {
	coll  schedule.Coll
	class int // bit length of the byte count
}

// observe sets up the communicator's diagnosis hooks from cfg: the flight
// recorder, metrics and their server, the timeline, and (for communicators
// made from the environment) the SIGUSR1 watcher. Close stops them.
func (c *Comm) observe(cfg *Config) error {
	o := newObserver(c, cfg)
	if o.metrics != nil && cfg.MetricsAddr != "" {
		if err := o.metrics.serve(cfg.MetricsAddr, o); err != nil {
			return err
		}
	}
	c.obs = o
	if cfg.dumpOnSignal && o.flight != nil {
		o.watchSignal()
		// Registers the communicator with the launcher: a rank with a
		// record open is one that answers SIGUSR1.
		o.record(diag.ReasonStart)
	}
	return nil
}

// newObserver builds the hooks cfg asks for.
func newObserver(c *Comm, cfg *Config) *observer {
	o := &observer{c: c, flightDir: cfg.FlightDir, logged: make(map[choiceClass]bool)}
	size := cfg.FlightSize
	if size == 0 {
		size = DefaultFlightSize
	}
	o.flight = newFlightRecorder(size)
	if cfg.Metrics || cfg.MetricsAddr != "" {
		o.metrics = newCommMetrics(c)
	}
	if cfg.Timeline != "" {
		o.tl = newTimeline(c, cfg.Timeline)
	}
	return o
}

// forChild gives a communicator split from o's (Split, Shrink) its own
// flight recorder (same size), timeline (same directory, its id as the
// thread) and metrics, on o's registry with its own comm label (its rank
// and peer labels are ranks of the split communicator); Close removes
// them. Nil when o is nil.
func (o *observer) forChild(ch *Comm) *observer {
	if o == nil {
		return nil
	}
	co := &observer{c: ch, flightDir: o.flightDir, logged: make(map[choiceClass]bool)}
	if o.metrics != nil {
		co.metrics = o.metrics.childMetrics(ch)
	}
	if o.flight != nil {
		co.flight = newFlightRecorder(len(o.flight.slots))
	}
	if o.tl != nil {
		co.tl = newTimeline(ch, o.tl.dir)
	}
	return co
}

// clockStart anchors nowNano: the wall clock when the package was
// initialised, with its monotonic reading.
var (
	clockStart     = time.Now()
	clockStartUnix = clockStart.UnixNano()
)

// nowNano is the time for the flight recorder, the timeline and operation
// durations, in Unix nanoseconds: the wall clock at clockStart plus the
// monotonic time since. It reads one clock where time.Now reads two (26
// against 47 ns here, BenchmarkClock; an operation reads it at least
// twice), and it never jumps when the wall clock is set, so durations
// taken from it stay right. A wall clock set after the process started is not followed:
// timestamps then differ from the new wall time by the step.
func nowNano() int64 { return clockStartUnix + int64(time.Since(clockStart)) }

// begin records the start of an operation at now (nowNano).
func (o *observer) begin(cl *call, seq uint64, steps int, now int64) {
	if o == nil || o.flight == nil && o.metrics == nil && o.tl == nil {
		return
	}
	o.curStart = now
	if o.flight != nil {
		o.cur = o.flight.begin(cl, seq, steps, now)
	}
	if o.metrics != nil {
		o.metrics.inflight.Inc()
	}
	if o.tl != nil {
		o.tl.begin(cl, seq, now)
	}
}

// step marks the start of step i.
func (o *observer) step(i int) {
	if o == nil {
		return
	}
	if o.cur != nil {
		o.cur.step.Store(int32(i))
	}
	if o.tl != nil {
		o.tl.step(i, nowNano())
	}
}

// sending marks a blocking send to peer (communicator rank).
func (o *observer) sending(peer int) {
	if o == nil {
		return
	}
	if s := o.cur; s != nil {
		s.wait.Store(int32(peer)<<1 | waitSend)
	}
	if o.tl != nil {
		o.sendT0 = nowNano()
	}
}

// sent ends a send of n bytes to peer.
func (o *observer) sent(peer, n int) {
	if o == nil {
		return
	}
	if s := o.cur; s != nil {
		s.wait.Store(noWait)
	}
	if o.metrics != nil {
		o.metrics.sent(peer, n)
	}
	if o.tl != nil {
		o.tl.io(evSend, peer, n, o.sendT0, nowNano())
	}
}

// receiving marks a wait for a receive from peer.
func (o *observer) receiving(peer int) {
	if o == nil {
		return
	}
	if s := o.cur; s != nil {
		s.wait.Store(int32(peer)<<1 | waitRecv)
	}
	if o.tl != nil {
		o.recvT0 = nowNano()
	}
}

// received ends a receive of n bytes from peer.
func (o *observer) received(peer, n int) {
	if o == nil {
		return
	}
	if s := o.cur; s != nil {
		s.wait.Store(noWait)
	}
	if o.metrics != nil {
		o.metrics.received(peer, n)
	}
	if o.tl != nil {
		o.tl.io(evRecv, peer, n, o.recvT0, nowNano())
	}
}

// p2pBegin records the start of a point-to-point send or receive (any
// goroutine); p2pEnd records its end.
func (o *observer) p2pBegin(send bool, peer int, tag uint32, seq uint64, buf []byte, dt reduce.DType) *flightSlot {
	if o == nil || o.flight == nil {
		return nil
	}
	kind := uint64(p2pRecv)
	if send {
		kind = p2pSend
	}
	count := 0
	if dt.Valid() {
		count = len(buf) / dt.Size()
	}
	return o.flight.p2pBegin(kind, peer, tag, seq, count, dt, nowNano())
}

func (o *observer) p2pEnd(s *flightSlot, err *error) {
	if s == nil {
		return
	}
	s.end.Store(nowNano())
	s.wait.Store(noWait)
	if *err != nil {
		msg := (*err).Error()
		s.err.Store(&msg)
		s.state.Store(flFailed)
		return
	}
	s.state.Store(flDone)
}

// end records the end of the operation begun last; err is what the caller
// gets.
func (o *observer) end(cl *call, err error) {
	if o == nil || o.flight == nil && o.metrics == nil && o.tl == nil {
		return
	}
	now := nowNano()
	if s := o.cur; s != nil {
		s.end.Store(now)
		if err != nil {
			msg := err.Error()
			s.err.Store(&msg)
			s.state.Store(flFailed)
		} else {
			s.wait.Store(noWait)
			s.state.Store(flDone)
		}
		o.cur = nil
	}
	if o.metrics != nil {
		o.metrics.end(cl, now-o.curStart, err)
	}
	if o.tl != nil {
		o.tl.end(now, err)
	}
}

// chose logs, at info level, the algorithm the cost model picked for coll
// on bytes, the first time per collective and size class (powers of two).
func (o *observer) chose(coll schedule.Coll, bytes int64, a schedule.Algo) {
	if o == nil {
		return
	}
	k := choiceClass{coll, bits.Len64(uint64(max(bytes, 0)))}
	if o.logged[k] || len(o.logged) >= maxPlans {
		return
	}
	o.logged[k] = true
	lo := int64(0)
	if k.class > 0 {
		lo = 1 << (k.class - 1)
	}
	attrs := []any{"op", coll.String(), "bytes", bytes,
		"size_class", fmt.Sprintf("[%d,%d)", lo, int64(1)<<k.class), "algo", a.String(), "size", o.c.size}
	if spec := o.c.algoSpec.String(); spec != "" {
		attrs = append(attrs, "allowed", spec)
	}
	o.c.log.Info("algorithm chosen", attrs...)
}

// Flight returns a snapshot of the communicator's flight recorder: its last
// operations (at most Config.FlightSize), oldest first, with the state of
// the one running, followed by the asynchronous operations (and synchronous
// calls behind them) still waiting in the communicator's queue, in state
// "queued" with sequence number 0 (numbers are given when they start). It
// may be called from any goroutine, also while an operation runs; the
// result is the caller's.
func (c *Comm) Flight() FlightRecord { return c.flightRecord(diag.ReasonAPI) }

func (c *Comm) flightRecord(reason string) diag.FlightRecord {
	o := c.obs
	host, _ := os.Hostname()
	rec := diag.FlightRecord{
		Rank: c.rank, Size: c.size, Comm: c.id, Transport: c.ep.Name(), Host: host, PID: os.Getpid(),
		Time: time.Now(), Reason: reason,
	}
	if o != nil && o.flight != nil {
		rec.Capacity = len(o.flight.slots)
		rec.Total = o.flight.total.Load()
		rec.Ops = append(o.flight.snapshot(), c.queuedOps()...) // async.go
		rec.P2P = o.flight.snapshotP2P()
	}
	if rec.Ops == nil {
		rec.Ops = []diag.FlightOp{}
	}
	return rec
}

// dump writes the flight record: into the flight directory when there is
// one, else as JSON on stderr (toStderr) or as a one-line summary in the
// log. It is called on SIGUSR1 and when an operation times out.
func (o *observer) dump(reason string, toStderr bool) {
	if o == nil {
		return
	}
	if o.flight == nil {
		return
	}
	rec := o.c.flightRecord(reason)
	if o.flightDir != "" {
		path, err := diag.WriteFlight(o.flightDir, &rec)
		if err != nil {
			o.c.log.Warn("flight recorder not written", "err", err)
			return
		}
		level := slog.LevelInfo // asked for (SIGUSR1): the asker reads the file
		if reason == diag.ReasonTimeout {
			level = slog.LevelWarn
		}
		o.c.log.Log(context.Background(), level, "flight recorder written", "reason", reason, "file", path)
		return
	}
	if toStderr {
		buf, err := json.Marshal(&rec)
		if err == nil {
			os.Stderr.Write(append(buf, '\n'))
		}
		return
	}
	attrs := []any{"reason", reason}
	if cur := rec.Current(); cur != nil {
		attrs = append(attrs, "op", cur.Op, "seq", cur.Seq, "algo", cur.Algo, "step", fmt.Sprintf("%d/%d", cur.Step+1, cur.Steps))
		if cur.WaitingOn >= 0 {
			attrs = append(attrs, "waiting_on", cur.WaitingOn, "waiting", cur.Waiting)
		}
	}
	o.c.log.Warn("flight recorder (set "+EnvFlightDir+" for the full record)", attrs...)
}

// record writes the flight record into the flight directory, if there is
// one, without logging (start and close).
func (o *observer) record(reason string) {
	if o.flightDir == "" {
		return
	}
	rec := o.c.flightRecord(reason)
	if _, err := diag.WriteFlight(o.flightDir, &rec); err != nil {
		o.c.log.Warn("flight recorder not written", "err", err)
	}
}

// watchSignal dumps the flight record on every SIGUSR1 until close.
func (o *observer) watchSignal() {
	o.sigCh = make(chan os.Signal, 1) // signal.Notify needs a buffer; one pending dump is enough
	o.sigQuit = make(chan struct{})
	signal.Notify(o.sigCh, syscall.SIGUSR1)
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		for {
			select {
			case <-o.sigCh:
				o.dump(diag.ReasonSignal, true)
			case <-o.sigQuit:
				return
			}
		}
	}()
}

// close stops the signal watcher and the metrics server and writes the
// timeline. It is called once, by Comm.Close.
func (o *observer) close() error {
	if o == nil {
		return nil
	}
	if o.sigCh != nil {
		signal.Stop(o.sigCh)
		close(o.sigQuit)
		o.wg.Wait()
		o.record(diag.ReasonClose)
	}
	var errs []error
	if o.metrics != nil {
		errs = append(errs, o.metrics.close())
	}
	if o.tl != nil {
		if err := o.tl.write(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// timedOut dumps the flight record when an operation outlives the
// communicator's timeout (called before the operation is failed).
func (o *observer) timedOut() { o.dump(diag.ReasonTimeout, false) }
