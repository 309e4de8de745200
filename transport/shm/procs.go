package shm

import (
	"os"
	"runtime"
	"sync"
)

// procsMu serialises ensureProcs.
var procsMu sync.Mutex

// ensureProcs raises GOMAXPROCS to n unless it is at least n already or the
// GOMAXPROCS environment variable sets it. A reader goroutine that sleeps on
// a futex keeps its P (processor) for the duration of the system call, until
// the runtime's monitor takes it back, which can take milliseconds; with
// fewer Ps than reader goroutines plus one, a goroutine that becomes
// runnable while every P is held that way waits that long. Measured
// (docs/performance.md, "Processors per rank at np=4"): 4 ranks on a 2-CPU
// machine, GOMAXPROCS 2 against 4, 200 all-reduces, medians of 4 runs: p99
// 7-15 ms against 0.65-1.2 ms from 64 to 256 KiB.
func ensureProcs(n int) {
	if os.Getenv("GOMAXPROCS") != "" {
		return
	}
	procsMu.Lock()
	defer procsMu.Unlock()
	if runtime.GOMAXPROCS(0) < n {
		runtime.GOMAXPROCS(n)
	}
}
