//go:build linux

package shm

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"
)

// A bell is one side's doorbell on a ring: a named pipe (FIFO) that both
// processes hold open for reading and writing (O_RDWR, so that neither
// open blocks and neither end ever reads an end of stream). A side about
// to sleep reads one byte from it, with a deadline, through the Go
// runtime's netpoller, so that the sleeping goroutine parks without
// holding a P (a goroutine asleep in a futex system call keeps its P until
// the runtime takes it back, up to milliseconds later); the other side
// writes one byte per sleeper after it publishes. A byte that finds no
// sleeper (the sleeper saw the new counter first, or timed out) wakes the
// next sleep early once, which then looks at the counter and sleeps again.
type bell struct {
	f  *os.File
	fd int // f's descriptor, non-blocking, for ring's writes
}

// createBell makes the FIFO at path (mode 0600; it must not exist) and
// opens it.
func createBell(path string) (*bell, error) {
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		return nil, fmt.Errorf("shm: create %s: %w", path, err)
	}
	b, err := openBell(path)
	if err != nil {
		_ = syscall.Unlink(path)
		return nil, err
	}
	return b, nil
}

// openBell opens the FIFO at path, which must be a private FIFO of this
// user. It returns errNotReady while path does not exist.
func openBell(path string) (*bell, error) {
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOFOLLOW, 0)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) {
			return nil, errNotReady
		}
		return nil, fmt.Errorf("shm: open %s: %w", path, err)
	}
	b := &bell{f: f, fd: -1}
	rc, err := f.SyscallConn()
	if err == nil {
		err = rc.Control(func(fd uintptr) {
			var st syscall.Stat_t
			if err := syscall.Fstat(int(fd), &st); err != nil {
				return
			}
			// ring must never block, whatever os decided for reads.
			if int(st.Uid) == syscall.Geteuid() && st.Mode&0o077 == 0 && st.Mode&syscall.S_IFMT == syscall.S_IFIFO &&
				syscall.SetNonblock(int(fd), true) == nil {
				b.fd = int(fd)
			}
		})
	}
	if err != nil || b.fd < 0 {
		f.Close()
		return nil, fmt.Errorf("shm: %s: not a private FIFO of this user", path)
	}
	return b, nil
}

// ones is what ring writes: one byte per sleeper, at most len(ones).
var ones = [4]byte{1, 1, 1, 1}

// ring wakes up to n sleepers. It never blocks: when the pipe is full the
// sleepers have bytes enough to wake on.
func (b *bell) ring(n uint32) {
	_, _ = syscall.Write(b.fd, ones[:min(n, uint32(len(ones)))])
}

func (b *bell) close() {
	if b != nil && b.f != nil {
		_ = b.f.Close()
	}
}

// waiter is one sleeper's use of a bell; its buffer is its own, so that
// two sleepers on one bell (a ring's reader goroutine and an inline
// reader) never share memory. The raw connection and the read callback are
// made on the first sleep, so that later sleeps allocate nothing (os.File's
// Read would allocate an error at every timeout).
type waiter struct {
	b *bell
	// yield: a wait gives the processor away (sched_yield) between its
	// looks; not when every rank of the host has a processor of its own
	// (Endpoint.yield).
	yield bool
	// quiet, when set, counts the receivers of this endpoint reading
	// inline (poll.go): while there are any, a wait does not
	// sched_yield, as that receiver's own loop does (the reader
	// goroutines' waits are the ones given it).
	quiet *atomic.Int32
	buf   [1]byte
	rc    syscall.RawConn
	fn    func(fd uintptr) bool
}

// sleep waits until the bell rings or d passes (spurious returns are
// fine: the caller looks at its counter again).
func (w *waiter) sleep(_ *atomic.Uint64, _ uint64, d time.Duration) {
	if w.fn == nil {
		rc, err := w.b.f.SyscallConn()
		if err != nil {
			time.Sleep(d) // closed: the caller's check will say so
			return
		}
		w.rc, w.fn = rc, w.readByte
	}
	_ = w.b.f.SetReadDeadline(time.Now().Add(d))
	_ = w.rc.Read(w.fn)
}

// readByte takes one byte from the pipe, or reports (false) that it is
// empty so that the netpoller waits for it.
func (w *waiter) readByte(fd uintptr) bool {
	for {
		_, err := syscall.Read(int(fd), w.buf[:])
		if err == syscall.EINTR {
			continue
		}
		return err != syscall.EAGAIN
	}
}
