//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package tcp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"

	"github.com/cloudwego/netpoll"
)

const netpollSupported = true

// netpollLink is a link over a github.com/cloudwego/netpoll Connection.
//
// Writes: the header is copied into netpoll's output buffer and a payload
// larger than netpoll.BinaryInplaceThreshold (4 KiB) is linked in without a
// copy; Flush writes both with one sendmsg, and waits for the poller if the
// socket buffer is full, so nothing is retained after writeFrame returns.
//
// Reads: netpoll's event loop reads every socket into its own LinkBuffer as
// soon as data arrives; its API (Next, Peek, ReadBinary, Read) only hands out
// views of, or copies from, that buffer. There is no way to have it read a
// payload straight into a caller's buffer, so every payload byte is copied
// once more than with ImplNet (kernel -> LinkBuffer -> receive buffer).
type netpollLink struct {
	c  netpoll.Connection
	fd int
	rd netpollReader

	mu       sync.Mutex // orders shutdowns before release: fd may be reused after it
	released bool
}

// netpollReader reports netpoll's end-of-stream error as io.EOF.
type netpollReader struct{ c netpoll.Connection }

func (r *netpollReader) Read(p []byte) (int, error) {
	n, err := r.c.Read(p)
	if err != nil && errors.Is(err, netpoll.ErrEOF) {
		err = io.EOF
	}
	return n, err
}

// newNetpollLink moves the socket of c, after the handshake, to netpoll: it
// duplicates the descriptor, closes c (the Go runtime deregisters it from its
// poller) and registers the duplicate with netpoll. Nothing is lost: the
// handshake reads no further than its last message.
func newNetpollLink(c *net.TCPConn) (link, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	fd := -1
	var derr error
	if err := raw.Control(func(s uintptr) { fd, derr = syscall.Dup(int(s)) }); err != nil {
		derr = err
	}
	_ = c.Close()
	if derr != nil {
		return nil, fmt.Errorf("tcp: dup socket for netpoll: %w", derr)
	}
	nc, err := netpoll.NewFDConnection(fd)
	if err != nil {
		_ = syscall.Close(fd)
		return nil, fmt.Errorf("tcp: netpoll connection: %w", err)
	}
	return &netpollLink{c: nc, fd: fd, rd: netpollReader{nc}}, nil
}

// writeFrame ignores ctx: netpoll's Flush has no deadline, so a write to a
// peer that stopped reading blocks until the link fails or is closed.
func (l *netpollLink) writeFrame(_ context.Context, hdr, payload []byte) error {
	w := l.c.Writer()
	if _, err := w.WriteBinary(hdr); err != nil {
		return err
	}
	if len(payload) > 0 {
		if _, err := w.WriteBinary(payload); err != nil {
			return err
		}
	}
	return w.Flush()
}

// reader returns the Connection's Read, which copies from netpoll's buffer.
func (l *netpollLink) reader() io.Reader { return &l.rd }

func (l *netpollLink) closeWrite() { l.shutdown(syscall.SHUT_WR) }

// interrupt shuts the socket down rather than closing it: netpoll's poller
// then reports a hang-up, which fails blocked reads and flushes, while the
// Connection's buffers stay valid until release.
func (l *netpollLink) interrupt() { l.shutdown(syscall.SHUT_RDWR) }

func (l *netpollLink) shutdown(how int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.released {
		_ = syscall.Shutdown(l.fd, how)
	}
}

func (l *netpollLink) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.released = true
	_ = l.c.Close()
}
