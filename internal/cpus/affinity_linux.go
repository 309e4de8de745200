package cpus

import (
	"fmt"
	"syscall"
	"unsafe"
)

// Mask is a sched_setaffinity(2) processor mask, for up to 1024
// processors (the kernel's default cpu_set_t).
type Mask [16]uint64

// MaskOf is the mask of the processors listed; it fails on one outside
// the mask's range.
func MaskOf(list []int) (Mask, error) {
	var m Mask
	for _, c := range list {
		if c < 0 || c >= len(m)*64 {
			return m, fmt.Errorf("cpus: processor %d out of range", c)
		}
		m[c/64] |= 1 << (c % 64)
	}
	return m, nil
}

// Affinity returns the calling thread's mask.
func Affinity() (Mask, error) {
	var m Mask
	if _, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_GETAFFINITY, 0, unsafe.Sizeof(m), uintptr(unsafe.Pointer(&m))); errno != 0 {
		return m, errno
	}
	return m, nil
}

// SetAffinity binds the calling thread to the processors of m. The caller
// locks its goroutine to the thread (runtime.LockOSThread) first.
func SetAffinity(m Mask) error {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, 0, unsafe.Sizeof(m), uintptr(unsafe.Pointer(&m))); errno != 0 {
		return errno
	}
	return nil
}

// Allowed lists the processors the calling thread may run on, or nil if
// it cannot tell.
func Allowed() []int {
	m, err := Affinity()
	if err != nil {
		return nil
	}
	var list []int
	for i := range len(m) * 64 {
		if m[i/64]&(1<<(i%64)) != 0 {
			list = append(list, i)
		}
	}
	return list
}

// Pin binds the calling thread to processor cpu alone. The caller locks
// its goroutine to the thread first.
func Pin(cpu int) error {
	m, err := MaskOf([]int{cpu})
	if err != nil {
		return err
	}
	if err := SetAffinity(m); err != nil {
		return fmt.Errorf("cpus: bind to processor %d: %w", cpu, err)
	}
	return nil
}
