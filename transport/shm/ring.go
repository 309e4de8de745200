package shm

import (
	"runtime"
	"sync/atomic"
	"time"
)

// Waiting: a side that cannot go on checks the other side's counter a few
// times, then yields its processor, to the other goroutines of its process
// (a reader goroutine waiting here holds a P) and, with sched_yield, to
// other processes (the peer may be waiting for this core; not when every
// rank of the host has a processor of its own, waiter.yield), for a while;
// then it sleeps on its bell (bell_linux.go). In a process with one P
// (GOMAXPROCS=1, as the launcher sets for ranks that share processors), a
// reader goroutine does not sched_yield while a receiver of its process
// reads inline (waiter.quiet, Endpoint.oneP):
// that receiver's loop yields already, and with four ranks on two cores a
// process whose three reader goroutines each yielded too gave its
// processor away three or four times for every look of the receiver
// (`bench/ab.sh` at np=4: 1.1-2.2x faster from 8 bytes to 2 MiB but for
// one 32 KiB row, 0.80x, and 1.37x when run again); such a wait is still
// bounded by its yield time. A side in the middle of an operation (a
// sender waiting for room, a receiver for the rest of a frame or for its
// own frame, poll.go) yields for busyYield; the reader goroutine
// waiting for the next frame, which may be far off while the application
// computes, for idleYield only. The values were chosen by measurement (see
// docs/performance.md, "Shared memory transport"): on this 2-core machine,
// spinning for 5 or 50 microseconds first, or yielding only to goroutines,
// or only to processes, made an 8-byte all-reduce 3 to 15 times slower;
// 30 to 1000 microseconds of yielding did about as well at 2 ranks. At 4
// ranks, 1 ms in operations (and 100 us for the idle reader) against 100
// us everywhere made 64 KiB all-reduces 1.9-2.1x and 1 MiB ones 1.2-1.4x
// faster in two of three alternations (level or slower in the third, in a
// fast period): a sleeping rank's wake-up costs tens of microseconds on a
// virtual machine, and the rank it waits for is often not running.
const (
	spinLoads = 64
	idleYield = 100 * time.Microsecond
	busyYield = time.Millisecond
)

// WakeInterval bounds one sleep of a waiting side: how often it checks for
// a closed link, an exited peer or (for a sender) an ended context.
const WakeInterval = 20 * time.Millisecond

// PublishBytes is the most a producer copies into the ring before it
// publishes the new head, so that the consumer copies a large payload out
// while the rest is still being copied in.
const PublishBytes = 64 << 10

// checkFunc ends a wait with its error. It is called before every sleep
// with slow false, and with slow true after a sleep that ended without
// progress (a timeout, mostly), when it should also make the costlier checks
// (is the peer process alive?).
type checkFunc func(slow bool) error

// await waits until counter no longer holds old, and returns its new value,
// yielding for up to yield before it sleeps. flag is this side's waiting
// flag, w its sleeper on the bell the other side rings after it stores
// counter.
func await(counter *atomic.Uint64, old uint64, flag *atomic.Uint32, w *waiter, yield time.Duration, check checkFunc) (uint64, error) {
	for range spinLoads {
		if v := counter.Load(); v != old {
			return v, nil
		}
	}
	for start := time.Now(); time.Since(start) < yield; {
		runtime.Gosched()
		if v := counter.Load(); v != old {
			return v, nil
		}
		if w.yield && (w.quiet == nil || w.quiet.Load() == 0) {
			osYield()
		}
		if v := counter.Load(); v != old {
			return v, nil
		}
	}
	for slow := false; ; slow = true {
		if err := check(slow); err != nil {
			return old, err
		}
		// Announce the sleep, then look again: the other side stores the
		// counter before it loads the flag, and both are sequentially
		// consistent atomics, so either it sees the flag and wakes us or
		// we see its new counter.
		// flag counts the sleepers of this side: a consumer's reader
		// goroutine and an inline reader (poll.go) may both sleep on one
		// ring, and one waking must not hide the other's sleep.
		flag.Add(1)
		if v := counter.Load(); v != old {
			flag.Add(^uint32(0))
			return v, nil
		}
		w.sleep(counter, old, WakeInterval)
		flag.Add(^uint32(0))
		if v := counter.Load(); v != old {
			return v, nil
		}
	}
}

// publish stores v in counter and rings b, once per sleeper, if the other
// side sleeps on it.
func publish(counter *atomic.Uint64, v uint64, flag *atomic.Uint32, b *bell) {
	counter.Store(v)
	if n := flag.Load(); n != 0 {
		b.ring(n)
	}
}

// producer is the writing end of a ring. Its methods are called with the
// owning link's send lock held.
type producer struct {
	seg  *segment
	head uint64 // bytes written; == seg.head between frames
	tail uint64 // the consumer's position as last read
	w    waiter // sleeps on seg.prodBell
	c    copier // copies large pieces in (copy.go)
}

// write copies b into the ring, waiting for room with check. It publishes
// head after every piece that more of b follows (a piece ends at
// PublishBytes, at the end of the ring, or where the ring is full), and at
// the end when flush is set. It returns the number of bytes written when
// check fails.
func (p *producer) write(b []byte, flush bool, check checkFunc) (int, error) {
	s := p.seg
	size := uint64(len(s.data))
	done := 0
	for done < len(b) {
		free := size - (p.head - p.tail)
		if free == 0 {
			p.tail = s.tail.Load()
			if free = size - (p.head - p.tail); free == 0 {
				// The consumer must see everything written (a header
				// written without flush) before it can make room.
				publish(s.head, p.head, s.consWait, s.consBell)
				t, err := await(s.tail, p.tail, s.prodWait, &p.w, busyYield, check)
				if err != nil {
					return done, err
				}
				p.tail = t
				free = size - (p.head - p.tail)
			}
		}
		off := p.head & s.mask
		n := min(uint64(len(b)-done), free, size-off, PublishBytes)
		p.c.copy(s.data[off:off+n], b[done:done+int(n)])
		done += int(n)
		p.head += n
		if done < len(b) {
			publish(s.head, p.head, s.consWait, s.consBell)
		}
	}
	if flush {
		publish(s.head, p.head, s.consWait, s.consBell)
	}
	return done, nil
}

// consumer is the reading end of a ring. Its methods are called with the
// owning link's rmu held: by the reader goroutine or an inline reader
// (poll.go).
type consumer struct {
	seg  *segment
	tail uint64 // bytes read
	head uint64 // the producer's position as last read
	w    waiter // sleeps on seg.consBell
}

// read copies up to len(b) bytes (at least one, len(b) > 0) out of the
// ring, waiting with check while it is empty, and publishes the new tail.
func (c *consumer) read(b []byte, check checkFunc) (int, error) {
	s := c.seg
	if c.head == c.tail {
		c.head = s.head.Load()
		if c.head == c.tail {
			h, err := await(s.head, c.tail, s.consWait, &c.w, busyYield, check)
			if err != nil {
				return 0, err
			}
			c.head = h
		}
	}
	size := uint64(len(s.data))
	off := c.tail & s.mask
	n := min(uint64(len(b)), c.head-c.tail, size-off)
	copy(b, s.data[off:off+n])
	c.tail += n
	publish(s.tail, c.tail, s.prodWait, s.prodBell)
	return int(n), nil
}

// peek copies the next len(b) bytes of the ring into b without consuming
// them, if that many are there, and reports whether they were.
func (c *consumer) peek(b []byte) bool {
	s := c.seg
	if c.head-c.tail < uint64(len(b)) {
		c.head = s.head.Load()
		if c.head-c.tail < uint64(len(b)) {
			return false
		}
	}
	off := c.tail & s.mask
	n := copy(b, s.data[off:])
	copy(b[n:], s.data)
	return true
}

// skip consumes n bytes that peek has shown, and publishes the new tail.
func (c *consumer) skip(n int) {
	c.tail += uint64(n)
	publish(c.seg.tail, c.tail, c.seg.prodWait, c.seg.prodBell)
}

// readFull fills b, as io.ReadFull.
func (c *consumer) readFull(b []byte, check checkFunc) error {
	for len(b) > 0 {
		n, err := c.read(b, check)
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}
