//go:build !linux

package shm

import (
	"sync/atomic"
	"time"
)

// Without Linux's netpoller support for FIFOs (kqueue does not report a
// FIFO's readiness reliably on macOS, Go issue 24164), a sleeping side
// polls its counter in small steps: a wake-up is bounded by the step.
type bell struct{}

func createBell(string) (*bell, error) { return &bell{}, nil }
func openBell(string) (*bell, error)   { return &bell{}, nil }
func (b *bell) ring(uint32)            {}
func (b *bell) close()                 {}

type waiter struct {
	b     *bell
	yield bool          // see waiter in bell_linux.go
	quiet *atomic.Int32 // see waiter in bell_linux.go
}

func (w *waiter) sleep(counter *atomic.Uint64, old uint64, d time.Duration) {
	const step = 50 * time.Microsecond
	for end := time.Now().Add(d); counter.Load() == old && time.Now().Before(end); {
		time.Sleep(step)
	}
}
