package shm

import (
	"syscall"
	"time"
	"unsafe"
)

const (
	futexWaitOp = 0 // FUTEX_WAIT, shared (not FUTEX_PRIVATE_FLAG): the word is in a shared mapping
	futexWakeOp = 1 // FUTEX_WAKE
)

// futexWait sleeps while *addr == val, at most d. Spurious and early
// returns are fine: the caller rechecks.
func futexWait(addr *uint32, val uint32, d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	_, _, _ = syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWaitOp, uintptr(val), uintptr(unsafe.Pointer(&ts)), 0, 0)
}

// futexWake wakes every sleeper on addr.
func futexWake(addr *uint32) {
	_, _, _ = syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWakeOp, uintptr(^uint32(0)>>1), 0, 0, 0)
}

// osYield gives this thread's processor to another runnable thread, of any
// process (runtime.Gosched only lets other goroutines of this one run).
func osYield() { _, _, _ = syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0) }

// mapPopulate makes mmap fault every page of a segment in at once, so that
// the first frames through a ring do not pay a page fault per 4 KiB.
const mapPopulate = syscall.MAP_POPULATE
