//go:build !linux

package shm

import (
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"
)

// futexWait polls *addr for at most d, sleeping in small steps: without a
// futex the wake-up of a sleeping side is bounded by the step.
func futexWait(addr *uint32, val uint32, d time.Duration) {
	const step = 50 * time.Microsecond
	w := (*atomic.Uint32)(unsafe.Pointer(addr))
	for end := time.Now().Add(d); w.Load() == val && time.Now().Before(end); {
		time.Sleep(step)
	}
}

func futexWake(*uint32) {}

func osYield() { runtime.Gosched() }

const mapPopulate = 0
