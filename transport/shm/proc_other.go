//go:build unix && !linux

package shm

import "syscall"

// procStart reports whether pid is a live process; without /proc there is
// no start time to guard against a reused pid.
func procStart(pid int) (start uint64, alive bool) {
	err := syscall.Kill(pid, 0)
	return 0, err == nil || err == syscall.EPERM
}

func selfStart() uint64 { return 0 }

// procStopped reports false: without /proc a stopped peer is left to the
// operation timeout.
func procStopped(pid int) bool { return false }
