package bench

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kizuna-hpc/kizuna/internal/cpus"
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

// DescribeDistance is processors 0 and 1's Distance as text, or why it
// cannot be measured ("one processor", MeasureDistance's error), for the
// reports of measurement programs: how far apart the processors are
// decides how fast any library moves data between processes on them
// (docs/performance.md, "Two speeds of one machine").
func DescribeDistance() string {
	if runtime.NumCPU() < 2 {
		return "one processor"
	}
	d, err := MeasureDistance(0, 1)
	if err != nil {
		return err.Error()
	}
	return d.String()
}

// distanceLimit bounds each phase of MeasureDistance; it takes about a
// tenth of a second in all on this machine, near or far.
const distanceLimit = 5 * time.Second

// MeasureDistance measures the Distance between processors a and b (which
// must differ) with two threads bound to them, for about a tenth of a
// second on this machine. The threads end with the measurement, so the
// binding does not outlive it. It fails if a thread cannot be bound,
// GOMAXPROCS is under 2 (the two spinning threads would take turns at
// the Go scheduler's pace), or a phase takes longer than 5 s.
func MeasureDistance(a, b int) (Distance, error) {
	var d Distance
	if a == b {
		return d, fmt.Errorf("bench: distance from processor %d to itself", a)
	}
	if n := runtime.GOMAXPROCS(0); n < 2 {
		return d, fmt.Errorf("bench: distance needs GOMAXPROCS >= 2 (have %d): two threads spin at once", n)
	}
	var stop atomic.Bool
	timer := time.AfterFunc(distanceLimit, func() { stop.Store(true) })
	defer timer.Stop()
	// pair runs f0 on a thread bound to a and f1 on one bound to b, once
	// both are bound; if either cannot be, neither runs.
	pair := func(f0, f1 func()) error {
		var wg sync.WaitGroup
		var errs [2]error
		var bound sync.WaitGroup
		bound.Add(2)
		for side, cpu := range []int{a, b} {
			f := f0
			if side == 1 {
				f = f1
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Locked and never unlocked: the thread exits with the
				// goroutine, and its binding with it.
				runtime.LockOSThread()
				errs[side] = cpus.Pin(cpu)
				bound.Done()
				bound.Wait()
				if errs[0] == nil && errs[1] == nil {
					f()
				}
			}()
		}
		wg.Wait()
		if err := errors.Join(errs[0], errs[1]); err != nil {
			return err
		}
		if stop.Load() {
			return fmt.Errorf("bench: distance between processors %d and %d: a phase took over %v", a, b, distanceLimit)
		}
		return nil
	}
	// Round trips: each side waits for the other's turn on one line.
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
				if stop.Load() {
					return
				}
			}
			line.v.Store(2*i + me + 1)
		}
	}
	err := pair(func() { start = time.Now(); turn(0) }, func() { turn(1); d.RoundTrip = time.Since(start) / trips })
	if err != nil {
		return Distance{}, err
	}
	if d.Cached, d.Read, err = ringRates(pair, &stop, func(dst, src []byte) { copy(dst, src) }); err != nil {
		return Distance{}, err
	}
	if ntstore.Available {
		if d.NT, _, err = ringRates(pair, &stop, ntstore.Copy); err != nil {
			return Distance{}, err
		}
	}
	return d, nil
}

// ringRates streams 64 KiB pieces through a 1 MiB ring from the first
// thread of pair (copying in with put) to the second, and returns both
// copy rates.
func ringRates(pair func(f0, f1 func()) error, stop *atomic.Bool, put func(dst, src []byte)) (in, out float64, err error) {
	const piece, slots, pieces = 64 << 10, 16, 2048
	ring := make([]byte, piece*slots)
	src, dst := make([]byte, piece), make([]byte, piece)
	var head, tail atomic.Int64
	var tin, tout time.Duration
	err = pair(func() {
		for i := int64(0); i < pieces; i++ {
			for i-tail.Load() >= slots {
				if stop.Load() {
					return
				}
			}
			off := (i % slots) * piece
			t := time.Now()
			put(ring[off:off+piece], src)
			tin += time.Since(t)
			head.Store(i + 1)
		}
	}, func() {
		for i := int64(0); i < pieces; i++ {
			for head.Load() <= i {
				if stop.Load() {
					return
				}
			}
			off := (i % slots) * piece
			t := time.Now()
			copy(dst, ring[off:off+piece])
			tout += time.Since(t)
			tail.Store(i + 1)
		}
	})
	if err != nil {
		return 0, 0, err
	}
	bytes := float64(piece * pieces)
	return bytes / tin.Seconds(), bytes / tout.Seconds(), nil
}
