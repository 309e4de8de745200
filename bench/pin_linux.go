package bench

import (
	"fmt"
	"syscall"
	"unsafe"
)

// pinThread binds the calling thread to processor cpu.
func pinThread(cpu int) error {
	var mask [16]uint64 // 1024 processors, the kernel's default cpu_set_t
	if cpu < 0 || cpu >= len(mask)*64 {
		return fmt.Errorf("bench: processor %d out of range", cpu)
	}
	mask[cpu/64] = 1 << (cpu % 64)
	_, _, e := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, 0, unsafe.Sizeof(mask), uintptr(unsafe.Pointer(&mask[0])))
	if e != 0 {
		return fmt.Errorf("bench: bind to processor %d: %w", cpu, e)
	}
	return nil
}
