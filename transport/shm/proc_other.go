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

// procPath identifies a peer's process for procStatus.
type procPath int

func newProcPath(pid int) procPath { return procPath(pid) }

// procStatus: alive by kill(pid, 0); never stopped (see procStopped).
func procStatus(p procPath) (start uint64, alive, stopped bool) {
	start, alive = procStart(int(p))
	return start, alive, false
}
