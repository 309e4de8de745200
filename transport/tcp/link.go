package tcp

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"time"
)

// link is one connected socket after the handshake: the byte-moving layer
// under the endpoint's framing and matching.
type link interface {
	// writeFrame writes a 64-byte header and its payload. The caller
	// serialises calls (one per socket at a time) and keeps hdr and payload
	// unchanged until it returns; writeFrame does not retain them. If ctx
	// can end, a write that is blocked (the peer is not reading) gives up
	// within writeSlice once ctx has ended, and returns its error: the
	// frame is then partly written, so the caller must fail the link.
	writeFrame(ctx context.Context, hdr, payload []byte) error
	// reader is the stream of incoming frames. Only the socket's reader
	// goroutine uses it.
	reader() io.Reader
	// closeWrite half-closes the socket (the peer reads EOF after the
	// frames already written).
	closeWrite()
	// interrupt makes blocked and later reads and writes fail. It may be
	// called concurrently with them, and more than once.
	interrupt()
	// release frees the socket, once, after the reader goroutine has
	// returned and while no write is in progress.
	release()
}

// netLink is a link over the standard library's net.TCPConn. Its reader is
// the connection itself, unbuffered: the reader goroutine reads each 64-byte
// header with one read and the payload with as many reads as it takes,
// straight into the posted receive buffer. (A read-ahead buffer saves one
// read per small frame but measured slower for 64 KiB frames; see doc.go.)
type netLink struct {
	c    *net.TCPConn
	bufs [2][]byte   // header, payload; reused by writeFrame
	nb   net.Buffers // view of bufs that WriteTo consumes
	fw   fastWrite   // the first, non-blocking write (fastpath.go)
}

func newNetLink(c *net.TCPConn) *netLink {
	l := &netLink{c: c}
	l.fw.init(l)
	return l
}

// writeSlice is how long a blocked write waits before it checks whether
// its caller gave up (the operation's context ended, the communicator
// timed out or was aborted).
const writeSlice = 100 * time.Millisecond

// writeFrame writes header and payload with one writev (net.Buffers), so a
// large payload is never copied into an intermediate buffer. When ctx can
// end, the write runs under a deadline of writeSlice at a time: each expiry
// checks ctx and, if it has not ended, carries on with the bytes not yet
// written.
func (l *netLink) writeFrame(ctx context.Context, hdr, payload []byte) error {
	l.bufs[0], l.bufs[1] = hdr, payload
	l.nb = l.bufs[:]
	if len(payload) == 0 {
		l.nb = l.bufs[:1]
	}
	defer func() { l.bufs[0], l.bufs[1] = nil, nil }() // do not retain the caller's payload
	if ctx.Done() == nil {
		_, err := l.nb.WriteTo(l.c)
		return err
	}
	// A frame that fits in the socket buffer (every small one) goes out
	// with one writev and no deadline to set and clear.
	if done, err := l.tryWrite(); done || err != nil {
		return err
	}
	for {
		_ = l.c.SetWriteDeadline(time.Now().Add(writeSlice))
		_, err := l.nb.WriteTo(l.c)
		if err == nil {
			_ = l.c.SetWriteDeadline(time.Time{})
			return nil
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
	}
}

func (l *netLink) reader() io.Reader { return l.c }
func (l *netLink) closeWrite()       { _ = l.c.CloseWrite() }

func (l *netLink) interrupt() {
	// Closing unblocks the reader and writers at once. SetLinger(0) is not
	// used: the peer may still be reading frames already written.
	_ = l.c.SetDeadline(time.Unix(1, 0))
	_ = l.c.Close()
}

func (l *netLink) release() {}
