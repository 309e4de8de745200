package bench

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kizuna-hpc/kizuna/internal/ntstore"
)

// Distance is how far apart two processors are, as shared memory sees it.
// On a virtual machine it can change by several times from one minute to
// the next, as the hypervisor moves the vCPUs (docs/performance.md, "Two
// speeds of one machine"), and every library that moves data between
// processes changes speed with it; measurement programs report it before
// and after their runs.
type Distance struct {
	// RoundTrip is the time of one cache line's trip from processor a to
	// b and back (two threads taking turns on one counter).
	RoundTrip time.Duration
	// Cached and NT are the rates, in bytes per second, at which a thread
	// on a copies 64 KiB pieces into a 1 MiB ring that a thread on b
	// copies out of, with ordinary and with non-temporal stores
	// (ntstore); Read is b's rate in the Cached case. The shared-memory
	// transport's producer and consumer do the same (transport/shm).
	Cached, NT, Read float64
}

func (d Distance) String() string {
	nt := "n/a"
	if ntstore.Available {
		nt = fmt.Sprintf("%.1f GB/s", d.NT/1e9)
	}
	return fmt.Sprintf("cache line round trip %v; copy into a ring the other reads %.1f GB/s (non-temporal %s), out of it %.1f GB/s",
		d.RoundTrip.Round(time.Nanosecond), d.Cached/1e9, nt, d.Read/1e9)
}

// ErrNoPinning reports a system where threads cannot be bound to
// processors (pin_other.go).
var ErrNoPinning = errors.New("bench: binding threads to processors is not supported here")

// MeasureDistance measures the Distance between processors a and b with
// two threads bound to them for about a tenth of a second (more where the
// processors are far apart). The threads end with the measurement, so the
// binding does not outlive it. It fails if a thread cannot be bound.
func MeasureDistance(a, b int) (Distance, error) {
	var d Distance
	var wg sync.WaitGroup
	errs := make([]error, 2)
	run := func(side, cpu int, f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Locked and never unlocked: the thread exits with the
			// goroutine, and its binding with it.
			runtime.LockOSThread()
			if err := pinThread(cpu); err != nil && errs[side] == nil {
				errs[side] = err
			}
			f() // unbound if it failed: the other side waits for this one
		}()
	}
	// Round trips.
	const trips = 100000
	var line struct {
		_ [64]byte
		v atomic.Int64
		_ [64]byte
	}
	var start time.Time
	turn := func(me int64) {
		for i := int64(0); i < trips; i++ {
			for line.v.Load() != 2*i+me {
			}
			line.v.Store(2*i + me + 1)
		}
	}
	run(0, a, func() { start = time.Now(); turn(0) })
	run(1, b, func() { turn(1); d.RoundTrip = time.Since(start) / trips })
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Distance{}, err
	}
	d.Cached, d.Read = ringRates(run, &wg, a, b, func(dst, src []byte) { copy(dst, src) })
	if ntstore.Available {
		d.NT, _ = ringRates(run, &wg, a, b, ntstore.Copy)
	}
	return d, nil
}

// ringRates streams 64 KiB pieces through a 1 MiB ring from a thread on
// a (copying in with put) to one on b, and returns both copy rates.
func ringRates(run func(int, int, func()), wg *sync.WaitGroup, a, b int, put func(dst, src []byte)) (in, out float64) {
	const piece, slots, pieces = 64 << 10, 16, 2048
	ring := make([]byte, piece*slots)
	src, dst := make([]byte, piece), make([]byte, piece)
	var head, tail atomic.Int64
	var tin, tout time.Duration
	run(0, a, func() {
		for i := int64(0); i < pieces; i++ {
			for i-tail.Load() >= slots {
			}
			off := (i % slots) * piece
			t := time.Now()
			put(ring[off:off+piece], src)
			tin += time.Since(t)
			head.Store(i + 1)
		}
	})
	run(1, b, func() {
		for i := int64(0); i < pieces; i++ {
			for head.Load() <= i {
			}
			off := (i % slots) * piece
			t := time.Now()
			copy(dst, ring[off:off+piece])
			tout += time.Since(t)
			tail.Store(i + 1)
		}
	})
	wg.Wait()
	bytes := float64(piece * pieces)
	return bytes / tin.Seconds(), bytes / tout.Seconds()
}
