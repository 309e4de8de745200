package shm

import "syscall"

// osYield gives this thread's processor to another runnable thread, of any
// process (runtime.Gosched only lets other goroutines of this one run).
func osYield() { _, _, _ = syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0) }

// mapPopulate makes mmap fault every page of a segment in at once, so that
// the first frames through a ring do not pay a page fault per 4 KiB.
const mapPopulate = syscall.MAP_POPULATE
