package shm

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"unsafe"
)

// procStart returns the start time of process pid (field 22 of
// /proc/PID/stat, in clock ticks since boot) and whether pid is a live
// process (not a zombie). A pid that was reused by another process after
// the original exited has another start time.
func procStart(pid int) (start uint64, alive bool) {
	start, alive, _ = procStatus(newProcPath(pid))
	return start, alive
}

// procPath is "/proc/PID/stat" with a terminating NUL, built once per peer
// so that the liveness checks on an idle link allocate nothing.
type procPath []byte

func newProcPath(pid int) procPath {
	return procPath("/proc/" + strconv.Itoa(pid) + "/stat\x00")
}

// procStatus reads /proc/PID/stat once: the process's start time, whether
// it is alive (not a zombie), and whether it is stopped (state T, by
// SIGSTOP, or t, by a tracer). It allocates nothing.
func procStatus(p procPath) (start uint64, alive, stopped bool) {
	var buf [1024]byte
	fd, _, errno := syscall.Syscall6(syscall.SYS_OPENAT, atFDCWD,
		uintptr(unsafe.Pointer(&p[0])), syscall.O_RDONLY|syscall.O_CLOEXEC, 0, 0, 0)
	if errno != 0 {
		return 0, false, false
	}
	n, err := syscall.Read(int(fd), buf[:])
	_ = syscall.Close(int(fd))
	if err != nil || n <= 0 {
		return 0, false, false
	}
	return parseStat(buf[:n])
}

// atFDCWD is AT_FDCWD as the openat system call's uintptr argument.
const atFDCWD = ^uintptr(99) // -100

// parseStat reads the state (field 3) and start time (field 22) of a
// /proc/PID/stat line.
func parseStat(b []byte) (start uint64, alive, stopped bool) {
	// The command name (field 2) is in parentheses and may hold anything;
	// the fields after the last ')' are plain: " S ppid ...", field 3
	// (state) the first, field 22 (starttime) the twentieth.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false, false
	}
	k := 0
	var state byte
	for j := i + 1; j < len(b); {
		for j < len(b) && b[j] == ' ' {
			j++
		}
		e := j
		for e < len(b) && b[e] != ' ' && b[e] != '\n' {
			e++
		}
		if e == j {
			break
		}
		switch k {
		case 0:
			state = b[j]
		case 19:
			for _, c := range b[j:e] {
				if c < '0' || c > '9' {
					return 0, false, false
				}
				start = start*10 + uint64(c-'0')
			}
		}
		k++
		if k == 20 {
			break
		}
		j = e + 1
	}
	if k < 20 {
		return 0, false, false
	}
	switch state {
	case 'Z', 'X', 'x':
		return 0, false, false
	}
	return start, true, state == 'T' || state == 't'
}

// selfStart is this process's start time.
func selfStart() uint64 {
	s, _ := procStart(os.Getpid())
	return s
}

// procStopped reports whether process pid is stopped (state T, by SIGSTOP,
// or t, by a tracer): alive, but running none of its code, so it sends
// nothing, as a silent TCP peer.
func procStopped(pid int) bool {
	_, alive, stopped := procStatus(newProcPath(pid))
	return alive && stopped
}
