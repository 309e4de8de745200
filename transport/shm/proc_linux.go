package shm

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// procStart returns the start time of process pid (field 22 of
// /proc/PID/stat, in clock ticks since boot) and whether pid is a live
// process (not a zombie). A pid that was reused by another process after
// the original exited has another start time.
func procStart(pid int) (start uint64, alive bool) {
	var buf [1024]byte
	fd, err := syscall.Open("/proc/"+strconv.Itoa(pid)+"/stat", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return 0, false
	}
	n, err := syscall.Read(fd, buf[:])
	_ = syscall.Close(fd)
	if err != nil || n <= 0 {
		return 0, false
	}
	b := buf[:n]
	// The command name (field 2) is in parentheses and may hold anything;
	// the fields after the last ')' are plain.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	// After ')': " S ppid ..." — field 3 (state) is the first, field 22
	// (starttime) the twentieth.
	var field [20][]byte
	k := 0
	for j := i + 1; j < len(b) && k < len(field); {
		for j < len(b) && b[j] == ' ' {
			j++
		}
		e := j
		for e < len(b) && b[e] != ' ' && b[e] != '\n' {
			e++
		}
		if e > j {
			field[k] = b[j:e]
			k++
		}
		j = e + 1
	}
	if k < len(field) {
		return 0, false
	}
	switch field[0][0] {
	case 'Z', 'X', 'x':
		return 0, false
	}
	var err2 error
	start, err2 = strconv.ParseUint(string(field[19]), 10, 64)
	if err2 != nil {
		return 0, false
	}
	return start, true
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
	var buf [512]byte
	fd, err := syscall.Open("/proc/"+strconv.Itoa(pid)+"/stat", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	n, err := syscall.Read(fd, buf[:])
	_ = syscall.Close(fd)
	if err != nil || n <= 0 {
		return false
	}
	b := buf[:n]
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	return b[i+2] == 'T' || b[i+2] == 't'
}
