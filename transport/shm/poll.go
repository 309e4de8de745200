package shm

import (
	"runtime"
	"time"

	"github.com/kizuna-hpc/kizuna/transport"
)

// Inline reads. A receiver that is about to block in Mux.Wait first reads
// its peer's ring itself (transport.Mux.SetPoller), for up to pollTime: its
// frame goes from the ring into the receive buffer on the receiver's own
// goroutine, so the hand-off from the reader goroutine (a wake-up through
// the Go scheduler, often of another thread) is saved. The reader goroutine
// and inline readers take turns on a ring through link.rmu. While a
// receiver polls a ring (link.inline), the reader goroutine leaves new
// frames to it; a receiver that finds another receive's frame first stops
// polling and leaves it to the reader goroutine, which may hold it for its
// receive (awaitPost) or queue it as unexpected. The endpoint installs
// the poller only when it links every other rank, so that the Mux is its
// own.

// inlineReads reports whether receivers read inline, given Config.Inline
// (mode): yes unless "off". Measured on a 2-processor machine
// (docs/performance.md, "Shared memory transport"): inline reads halved
// the time of a 64 KiB all-reduce at 2 ranks; at 4 ranks they made 64-128
// KiB up to 1.6 times slower while GOMAXPROCS was 2 (the readers' sleeps
// held the Ps, procs.go), and with GOMAXPROCS raised they are as fast there
// and 10-20% faster from 256 KiB to 1 MiB.
func inlineReads(mode string) bool {
	return mode != "off"
}

// pollTime bounds one inline read: how long a receiver looks at its peer's
// ring, yielding as await does (after every look when ranks share
// processors, after spinLooks looks when not), before it blocks.
const pollTime = busyYield

// spinLooks is how many times a receiver with a processor of its own
// (Endpoint.yield false) looks at the ring between its yields to the Go
// scheduler (runtime.Gosched), which cost far more than a look: a frame
// that comes in during one waits for the scheduler's round to end. 64
// looks before each yield made 8-byte to 4 KiB all-reduces at np=2
// 1.11-1.24x faster with the processors near and 1.07-1.16x far; 256 and
// 1024 did no better (docs/performance.md, "Small operations").
// Ranks that share processors yield after every look, as before.
const spinLooks = 64

// monoStart anchors monoNow.
var monoStart = time.Now()

// monoNow is the monotonic time since monoStart: one clock read, where
// time.Now reads the wall clock too (26 against 47 ns here,
// collective.BenchmarkClock).
func monoNow() time.Duration { return time.Since(monoStart) }

// poll is the Mux's poller: it reads r's peer's ring on the waiting
// goroutine until r completes or pollTime passes.
func (e *Endpoint) poll(r *transport.Recv) {
	src := int(r.Key.Src)
	if src < 0 || src >= e.size {
		return
	}
	l := e.peers[src]
	if l == nil {
		return
	}
	l.inline.Add(1)
	e.polling.Add(1)
	defer func() { l.inline.Add(-1); e.polling.Add(-1) }()
	start := monoNow()
	looks := 0
	for !r.Ready() {
		if l.rmu.TryLock() {
			read, stop := e.pollFrame(l, r)
			l.rmu.Unlock()
			if stop {
				return
			}
			if read {
				continue
			}
		}
		if !e.yield && looks < spinLooks {
			looks++
			continue
		}
		looks = 0
		if e.closed.Load() || l.failure() != nil || monoNow()-start > pollTime {
			return
		}
		runtime.Gosched()
		if r.Ready() {
			return
		}
		e.yieldProc()
	}
}

// pollFrame delivers the next frame of l's incoming ring if it is r's (its
// header is in the ring; the payload may still be streaming in). Only r's
// own frame is read: r is posted and only this goroutine can withdraw it, so
// DeliverFrom cannot find it gone and wait for room in the unexpected queue
// on the goroutine that would make that room. It reports whether it
// delivered a frame, and whether inline reading should stop (the link failed
// or is gone). l.rmu is held.
func (e *Endpoint) pollFrame(l *link, r *transport.Recv) (read, stop bool) {
	if l.inGone {
		return false, true
	}
	if !l.cons.peek(l.rhb[:]) {
		return false, false
	}
	h := &l.rh
	if err := h.UnmarshalFrom(l.rhb[:]); err != nil || int(h.Src) != l.rank {
		return false, true // the reader goroutine reports it
	}
	if h.Key() != r.Key {
		return false, true // the reader goroutine's
	}
	l.cons.skip(transport.HeaderSize)
	if err := e.mux.DeliverFrom(h, &l.prd); err != nil {
		if !e.closed.Load() {
			e.fail(l, err)
		}
		return false, true
	}
	e.inlined.Add(1)
	return true, false
}
