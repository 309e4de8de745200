package tcp

import (
	"io"
	"net"
	"time"
)

// link is one connected socket after the handshake: the byte-moving layer
// under the endpoint's framing and matching.
type link interface {
	// writeFrame writes a 64-byte header and its payload. The caller
	// serialises calls (one per socket at a time) and keeps hdr and payload
	// unchanged until it returns; writeFrame does not retain them.
	writeFrame(hdr, payload []byte) error
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
}

func newNetLink(c *net.TCPConn) *netLink {
	return &netLink{c: c}
}

// writeFrame writes header and payload with one writev (net.Buffers), so a
// large payload is never copied into an intermediate buffer.
func (l *netLink) writeFrame(hdr, payload []byte) error {
	if len(payload) == 0 {
		_, err := l.c.Write(hdr)
		return err
	}
	l.bufs[0], l.bufs[1] = hdr, payload
	l.nb = l.bufs[:]
	_, err := l.nb.WriteTo(l.c)
	l.bufs[0], l.bufs[1] = nil, nil // do not retain the caller's payload
	return err
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
