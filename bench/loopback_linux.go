package bench

import (
	"fmt"
	"net"
	"syscall"
	"unsafe"
)

// splicePiece is how much of a message one vmsplice hands to the pipe: the
// pipe's capacity is set to it (F_SETPIPE_SZ; Linux's default limit for
// an unprivileged process, /proc/sys/fs/pipe-max-size, is 1 MiB).
const splicePiece = 256 << 10

const (
	fSetPipeSz      = 1031 // F_SETPIPE_SZ
	spliceMove      = 0x1
	spliceNonblock  = 0x2
	spliceMore      = 0x4
	defaultPipeSize = 64 << 10
)

// splicer sends a buffer into a socket with vmsplice(2) and splice(2),
// through a pipe of its own. It is used by one goroutine.
type splicer struct {
	// mem is the message buffer: mapped memory, page-aligned, which
	// neither moves nor is reused while the socket may still refer to
	// its pages (a small Go slice may live on a goroutine's stack, which
	// moves when it grows).
	mem   []byte
	rc    syscall.RawConn
	r, w  int // the pipe's ends
	piece int
	// splice's state, for the rc.Write callback.
	left, flags int
	err         error
	fn          func(fd uintptr) bool
}

// newSplicer returns a splicer for c with a message buffer of size bytes
// (splicer.mem).
func newSplicer(c *net.TCPConn, size int) (*splicer, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("bench: loopback: %w", err)
	}
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("bench: loopback: map %d bytes: %w", size, err)
	}
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		_ = syscall.Munmap(mem)
		return nil, fmt.Errorf("bench: loopback: pipe: %w", err)
	}
	s := &splicer{mem: mem, rc: rc, r: p[0], w: p[1], piece: splicePiece}
	if _, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(s.w), fSetPipeSz, splicePiece); errno != 0 {
		s.piece = defaultPipeSize
	}
	s.fn = s.spliceOut
	return s, nil
}

// close frees the pipe and the buffer. The kernel keeps the pages that a
// socket still refers to until it lets go of them.
func (s *splicer) close() {
	_ = syscall.Close(s.r)
	_ = syscall.Close(s.w)
	_ = syscall.Munmap(s.mem)
}

// send hands b to the socket: a piece at a time into the pipe (vmsplice
// maps b's pages, copying nothing), then from the pipe to the socket
// (splice moves the page references), waiting through the netpoller while
// the socket buffer is full. The socket refers to b's pages until the peer
// has read them.
func (s *splicer) send(b []byte) error {
	for len(b) > 0 {
		iov := syscall.Iovec{Base: &b[0]}
		iov.SetLen(min(len(b), s.piece))
		// The pipe is empty (the last piece went out whole), so this
		// does not block; it may take less than asked when b's pages
		// outnumber the pipe's slots.
		n, _, errno := syscall.Syscall6(syscall.SYS_VMSPLICE, uintptr(s.w), uintptr(unsafe.Pointer(&iov)), 1, 0, 0, 0)
		if errno != 0 {
			return fmt.Errorf("vmsplice: %w", errno)
		}
		s.left, s.flags, s.err = int(n), spliceMove|spliceNonblock, nil
		if int(n) < len(b) {
			s.flags |= spliceMore // more of the message follows
		}
		if err := s.rc.Write(s.fn); err != nil {
			return err
		}
		if s.err != nil {
			return s.err
		}
		b = b[n:]
	}
	return nil
}

// spliceOut moves what the pipe holds into the socket fd; false: the
// socket is full, wait until it can take more.
func (s *splicer) spliceOut(fd uintptr) bool {
	for s.left > 0 {
		n, _, errno := syscall.Syscall6(syscall.SYS_SPLICE, uintptr(s.r), 0, fd, 0, uintptr(s.left), uintptr(s.flags))
		switch {
		case errno == syscall.EAGAIN:
			return false
		case errno == syscall.EINTR:
			continue
		case errno != 0:
			s.err = fmt.Errorf("splice: %w", errno)
			return true
		case n == 0: // the pipe is empty: it cannot be, but never spin
			s.err = fmt.Errorf("splice: moved nothing with %d bytes to go", s.left)
			return true
		}
		s.left -= int(n)
	}
	return true
}
