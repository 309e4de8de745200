//go:build linux

package tcp

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/kizuna-hpc/kizuna/internal/cpus"
	"github.com/kizuna-hpc/kizuna/transport"
)

// The receive side of ImplNet sockets on Linux, and the opt-in inline
// reads.
//
// The reader goroutine of each socket reads through a read-ahead buffer:
// at a frame boundary it reads up to 4 KiB (boundaryRead), so a small
// frame's header and payload come in with one read system call instead of
// two, and a larger payload is read after its buffered prefix straight
// into the receive buffer (Mux.DeliverFrom), so bulk data is still copied
// only once. It waits for the socket to become readable through
// RawConn.Read with a callback that does the read, so an empty socket
// costs one read (EAGAIN) per wake-up.
//
// Inline reads (KIZUNA_TCP_SPIN > 0): with a reader goroutine per socket,
// every frame costs the waiting goroutine a park and a wake-up on top of
// the reader's own: the reader is woken by the poller, reads the frame and
// hands it over through the receive's channel. With a spin budget, a
// goroutine waiting in Mux.Wait for a receive from a TCP peer reads the
// peer's sockets itself, without blocking, yielding the processor between
// attempts, for up to the budget, and only then parks and leaves the
// socket to the reader goroutine. Small frames (of any receive) are
// assembled in the read-ahead buffer; when the next frame is larger and
// is the waiting receive's own, its payload is read straight into the
// receive's buffer (inlineSource), with blocking reads once the budget has
// passed since the frame began. Spinning also keeps the core from going
// idle: on a virtual machine a halted vCPU takes tens of microseconds to
// wake for the next frame, which the reader goroutine's netpoller wait
// pays on every frame. Only a process with one TCP endpoint (one rank) spins: ranks
// that share a process would take the processor from each other.
//
// The two share each socket's byte stream through a token (stream.tok):
// whoever holds it owns the read-ahead buffer and the right to read. The
// inline reader only takes the token when it is free, never blocks while
// holding it, and delivers every complete frame it has buffered before it
// lets go, so that it never leaves a frame stranded in the buffer. The
// reader goroutine waits for the socket to become readable without the
// token, then takes it (yielding while an inline reader finishes) and
// reads; it may block while it holds it (the rest of a large payload read
// straight into the receive buffer, or a delivery held back for room).
// A partial frame may stay in the buffer when the token is released: the
// rest of it is still to arrive, and its arrival wakes the reader
// goroutine. Frames are delivered in stream order under the token, so
// frames of one socket still reach the Mux in the order sent. Frames the
// inline reader delivers go through Mux.Deliver, which never waits for
// room: while a rank spins it does not push back on a peer that runs
// ahead, for at most the spin budget per wait.

// DefaultSpin is the inline read budget when KIZUNA_TCP_SPIN does not say
// and the host may have more ranks than processors. Measured in
// docs/performance.md ("Latency"): at np=4 on 2 cores it took a third off
// the 8-byte all-reduce; at np=2 it was level or better.
const DefaultSpin = 100 * time.Microsecond

// DefaultSpinDedicated is the budget when every rank of the host has a
// processor of its own (Config.LocalRanks <= cpus.Host()): a rank that
// waits longer before it sleeps keeps its core from halting, which on a
// virtual machine costs tens of microseconds per wake-up. Measured
// (docs/performance.md, "Latency"), 1 ms against 100 us at np=2 on 2
// cores: all-reduces of 64 B-32 KiB 1.2-3x faster (mean time), larger ones
// level; at np=4 on the same cores it made small ones 10-25% slower, hence
// the condition.
const DefaultSpinDedicated = time.Millisecond

// EnvSpin sets the inline read budget of a waiting goroutine, a Go
// duration ("100us"); "0" turns the inline reads off.
const EnvSpin = "KIZUNA_TCP_SPIN"

const (
	// inlineMax is the largest payload the inline reader assembles in the
	// read-ahead buffer.
	inlineMax = 16 << 10
	// boundaryRead is how much is read at a frame boundary, where the
	// next frame's length is unknown: the header and up to 4 KiB of what
	// follows (the payload of a small frame, often a whole one). Payloads
	// larger than that are read by the reader goroutine straight into the
	// receive buffer after the buffered prefix.
	boundaryRead = 4 << 10
	streamBuf    = transport.HeaderSize + inlineMax
)

var errAgain = errors.New("tcp: no data")

// spinBudget reads EnvSpin; without it, the default for localRanks ranks
// on this host (0: unknown) sharing hostCPUs processors.
func spinBudget(localRanks, hostCPUs int) (time.Duration, error) {
	v := os.Getenv(EnvSpin)
	if v == "" {
		if cpus.Dedicated(localRanks, hostCPUs) {
			return DefaultSpinDedicated, nil
		}
		return DefaultSpin, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("tcp: %s=%q: want a duration such as 50us, or 0", EnvSpin, v)
	}
	return d, nil
}

// stream is the receive side of one ImplNet socket: a read-ahead buffer
// and the token that guards it.
type stream struct {
	tok  atomic.Bool // a try-lock: the inline reader never waits for it
	buf  []byte      // buf[r:w] is read and not yet consumed; guarded by tok
	r, w int
	hdr  transport.Header // header being delivered; guarded by tok
	// inlined counts the frames inline readers delivered; guarded by tok
	// (tests read it once the readers are done).
	inlined uint64

	c  *net.TCPConn
	rc syscall.RawConn

	// Non-blocking reads run through rc.Control/rc.Read with these method
	// values, made once, so that a read allocates nothing.
	ctlFn  func(fd uintptr)
	waitFn func(fd uintptr) bool
	dst    []byte
	n      int
	err    error
	taken  bool // waitFn found the token taken; the reader goroutine's only

	// The reader goroutine, finding the token taken by an inline reader,
	// stands by (standBy) rather than spinning for the token: a spinning
	// reader would take the processor the peer needs.
	bgWait     atomic.Bool
	wake       chan struct{} // cap 1: an inline reader hands the socket back
	lastInline atomic.Int64  // when an inline reader last let go (UnixNano)
	idle       *time.Timer   // the stand-by's timeout; the reader goroutine's only

	watch watchReader   // blocking reads of the reader goroutine
	prd   payloadReader // payloads for DeliverFrom: buffer first, then watch
	src   bufSource
	iprd  payloadReader // an inline reader's own large payload (pumpInline)
	isrc  inlineSource
}

func newStream(e *endpoint, p *peer, s *sock, c *net.TCPConn) (*stream, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	st := &stream{buf: make([]byte, streamBuf), c: c, rc: rc, wake: make(chan struct{}, 1)}
	st.ctlFn = st.readFD
	st.waitFn = st.waitRead
	st.watch = watchReader{rd: newRawReader(rc), s: s}
	st.src = bufSource{st: st}
	st.prd = payloadReader{e: e, p: p, rd: &st.src}
	st.isrc = inlineSource{st: st, spin: e.spin, yield: e.yield}
	st.iprd = payloadReader{e: e, p: p, rd: &st.isrc}
	return st, nil
}

// readFD is one non-blocking read of the socket into st.dst.
func (st *stream) readFD(fd uintptr) { st.n, st.err = readOnce(fd, st.dst) }

// readNB reads once into b without blocking: errAgain when nothing has
// arrived, io.EOF at the end of the stream. The token is held.
func (st *stream) readNB(b []byte) (int, error) {
	st.dst = b
	if err := st.rc.Control(st.ctlFn); err != nil {
		st.dst = nil
		return 0, err // closed
	}
	st.dst = nil
	return st.n, st.err
}

// waitRead is the reader goroutine's rc.Read callback: with the token, one
// non-blocking read at a frame boundary. It returns false (wait for the
// socket to become readable) when nothing has arrived, and true when it
// read something (the token is then kept), hit an error, or found the
// token taken by an inline reader.
func (st *stream) waitRead(fd uintptr) bool {
	if !st.tok.CompareAndSwap(false, true) {
		st.taken = true
		return true
	}
	st.taken = false
	st.compact(transport.HeaderSize)
	st.dst = st.buf[st.w:st.boundaryLimit()]
	st.readFD(fd)
	st.dst = nil
	if st.err == errAgain {
		st.tok.Store(false)
		return false
	}
	if st.n > 0 {
		st.w += st.n
	}
	return true
}

// boundaryLimit is the end of the read at a frame boundary.
func (st *stream) boundaryLimit() int {
	return min(len(st.buf), st.r+boundaryRead)
}

// compact makes room for need bytes from st.r on.
func (st *stream) compact(need int) {
	if st.r == st.w {
		st.r, st.w = 0, 0
		return
	}
	if st.r+need > len(st.buf) || st.r+boundaryRead > len(st.buf) {
		st.w = copy(st.buf, st.buf[st.r:st.w])
		st.r = 0
	}
}

// header parses the buffered header at st.r into st.hdr.
func (st *stream) header(p *peer) error {
	if err := st.hdr.UnmarshalFrom(st.buf[st.r:st.w]); err != nil {
		return err
	}
	if int(st.hdr.Src) != p.rank {
		return fmt.Errorf("%w: frame from rank %d names source rank %d", transport.ErrProtocol, p.rank, st.hdr.Src)
	}
	return nil
}

// bufSource serves a payload from the read-ahead buffer, then from the
// socket with blocking reads (the reader goroutine only).
type bufSource struct{ st *stream }

func (b *bufSource) Read(p []byte) (int, error) {
	if n := b.st.takeBuffered(p); n > 0 {
		return n, nil
	}
	return b.st.watch.Read(p)
}

// takeBuffered copies what the read-ahead buffer holds into p (at most
// len(p) bytes) and consumes it. The token is held.
func (st *stream) takeBuffered(p []byte) int {
	n := copy(p, st.buf[st.r:st.w])
	st.r += n
	return n
}

// inlineSource serves the payload of the waiting goroutine's own large
// frame (pumpInline): from the read-ahead buffer, then with non-blocking
// reads straight into the receive buffer, yielding between attempts while
// the rest is on its way, and once the spin budget has passed since the
// frame began, with the reader goroutine's blocking reads (the netpoller
// parks the goroutine; it holds the token, as the reader goroutine would
// while it reads a payload). The token is held.
type inlineSource struct {
	st    *stream
	spin  time.Duration
	yield bool // endpoint.yield
	start time.Time
}

func (b *inlineSource) Read(p []byte) (int, error) {
	st := b.st
	if n := st.takeBuffered(p); n > 0 {
		return n, nil
	}
	for {
		n, err := st.readNB(p)
		if err != errAgain {
			return n, err
		}
		if time.Since(b.start) > b.spin {
			return st.watch.Read(p)
		}
		if b.yield {
			osYield()
		}
	}
}

// streamLoop is readLoop for an ImplNet socket with a stream.
func (e *endpoint) streamLoop(p *peer, s *sock) {
	defer e.readers.Done()
	st := s.st
	for {
		err := e.streamRound(p, s, st)
		if err == nil {
			continue
		}
		if e.closed.Load() {
			return
		}
		if err == io.EOF {
			if p.eofs.Add(1) < int32(len(p.socks)) {
				return
			}
			err = errPeerClosed
		}
		e.fail(p, err)
		return
	}
}

// streamRound waits for the socket to be readable, takes the token and
// delivers what has arrived. It returns io.EOF only for an end of stream
// at a frame boundary.
func (e *endpoint) streamRound(p *peer, s *sock, st *stream) error {
	s.inRead.Store(true)
	err := st.rc.Read(st.waitFn)
	s.inRead.Store(false)
	if err != nil {
		return err
	}
	if st.taken { // an inline reader has the token
		st.standBy()
	} else {
		s.reads.Add(1)
		if st.err != nil {
			err := st.err
			if err == io.EOF && st.r != st.w {
				err = io.ErrUnexpectedEOF
			}
			st.tok.Store(false)
			return err
		}
	}
	err = e.drain(p, s, st)
	st.tok.Store(false)
	return err
}

// drain delivers buffered and arriving frames until the socket has nothing
// more for now at a frame boundary (or in the middle of a small frame).
// The token is held.
func (e *endpoint) drain(p *peer, s *sock, st *stream) error {
	for {
		avail := st.w - st.r
		if avail == 0 {
			// At a frame boundary with nothing buffered: the next
			// read is waitRead's, which parks on EAGAIN, so an empty
			// socket costs one read system call, not two.
			st.r, st.w = 0, 0
			return nil
		}
		if avail < transport.HeaderSize {
			st.compact(transport.HeaderSize)
			n, err := st.readNB(st.buf[st.w:st.boundaryLimit()])
			if n > 0 {
				st.w += n
				s.reads.Add(1)
				continue
			}
			switch {
			case err == errAgain:
				return nil
			case err == io.EOF && avail > 0:
				return io.ErrUnexpectedEOF
			}
			return err
		}
		if err := st.header(p); err != nil {
			return err
		}
		total := transport.HeaderSize + int(st.hdr.Len)
		if total <= boundaryRead && avail < total {
			// A small frame not complete yet: finish it without
			// blocking, or leave it for whoever reads next.
			st.compact(total)
			n, err := st.readNB(st.buf[st.w : st.r+total])
			if n > 0 {
				st.w += n
				s.reads.Add(1)
				continue
			}
			switch {
			case err == errAgain:
				return nil
			case err == io.EOF:
				return io.ErrUnexpectedEOF
			}
			return err
		}
		st.r += transport.HeaderSize
		err := e.mux.DeliverFrom(&st.hdr, &st.prd)
		if st.r == st.w {
			st.r, st.w = 0, 0
		}
		if err != nil {
			return err
		}
	}
}

// pumpInline reads and delivers frames from s without blocking, until r
// has completed or nothing more has arrived. It reports false when the
// inline reader should stop polling: the next frame is too large for the
// buffer (the reader goroutine reads it), the stream ended or failed. The
// token is held.
func (e *endpoint) pumpInline(p *peer, s *sock, st *stream, r *transport.Recv) bool {
	for !r.Ready() {
		avail := st.w - st.r
		need := transport.HeaderSize
		limit := 0
		if avail >= transport.HeaderSize {
			if err := st.header(p); err != nil {
				e.fail(p, err)
				return false
			}
			need = transport.HeaderSize + int(st.hdr.Len)
			if need > len(st.buf) {
				if st.hdr.Key() != r.Key {
					return false // another receive's: the reader goroutine's
				}
				// r's own large frame: read its payload here, straight
				// into r's buffer (inlineSource).
				st.r += transport.HeaderSize
				st.isrc.start = time.Now()
				err := e.mux.DeliverFrom(&st.hdr, &st.iprd)
				if st.r == st.w {
					st.r, st.w = 0, 0
				}
				if err != nil {
					if !e.closed.Load() {
						e.fail(p, err)
					}
					return false
				}
				st.inlined++
				continue
			}
			if avail >= need {
				payload := st.buf[st.r+transport.HeaderSize : st.r+need]
				st.r += need
				e.mux.Deliver(&st.hdr, payload)
				st.inlined++
				if st.r == st.w {
					st.r, st.w = 0, 0
				}
				continue
			}
			st.compact(need)
			limit = st.r + need
		} else {
			st.compact(need)
			limit = st.boundaryLimit()
		}
		n, err := st.readNB(st.buf[st.w:limit])
		if n > 0 {
			st.w += n
			s.reads.Add(1)
			continue
		}
		if err == errAgain {
			return true
		}
		if err != io.EOF && !e.closed.Load() {
			e.fail(p, err)
		}
		return false // the reader goroutine sees the end of the stream too
	}
	return true
}

// poll is the Mux's poller (transport.Mux.SetPoller): it reads r's peer's
// sockets on the waiting goroutine for up to the spin budget.
func (e *endpoint) poll(r *transport.Recv) {
	src := int(r.Key.Src)
	if src < 0 || src >= len(e.peers) {
		return
	}
	p := e.peers[src]
	if p == nil || p.socks[0].st == nil {
		return
	}
	if e.spin <= 0 || (liveEndpoints.Load() > 1 && !spinShared.Load()) {
		// Not read inline: a reader goroutine on stand-by must not
		// make this receive wait for its timeout.
		for _, s := range p.socks {
			if s.st.bgWait.Load() {
				select {
				case s.st.wake <- struct{}{}:
				default:
				}
			}
		}
		return
	}
	// The tokens taken are kept for the whole spin (the reader goroutine
	// waits for them on wake) and released at the end.
	var held uint64  // bit i: this call holds p.socks[i]'s token
	handBack := true // the reader goroutine must take over now
	defer func() {
		for i, s := range p.socks {
			if held&(1<<i) != 0 {
				s.st.release(handBack)
			}
		}
	}()
	start := time.Now()
	for {
		for i, s := range p.socks {
			st := s.st
			if held&(1<<i) == 0 {
				if !st.tok.CompareAndSwap(false, true) {
					continue // the reader goroutine is at it
				}
				held |= 1 << i
			}
			if !e.pumpInline(p, s, st, r) {
				return
			}
		}
		if r.Ready() {
			// The socket stays with inline readers for a while: the
			// reader goroutine stands by until one hands it back or
			// none comes for standByIdle.
			handBack = false
			return
		}
		if p.failure() != nil || e.closed.Load() || time.Since(start) > e.spin {
			return
		}
		if e.yield {
			osYield()
		}
	}
}

// release gives the token back. With handBack, it also wakes the reader
// goroutine if it stands by; without, the reader goroutine stays on stand-by
// until the next inline reader hands the socket back or standByIdle passes.
func (st *stream) release(handBack bool) {
	st.lastInline.Store(time.Now().UnixNano())
	st.tok.Store(false)
	// Pairs with standBy: it stores bgWait, then tries the token; this
	// stores the token, then loads bgWait: one sees the other.
	if handBack && st.bgWait.Load() {
		select {
		case st.wake <- struct{}{}:
		default:
		}
	}
}

// standByIdle is how long the reader goroutine stays off the socket after
// an inline reader last let go of it, before it waits on the socket again.
// While ranks run small operations back to back, the waiting goroutines
// read every frame themselves and the reader goroutine is not woken per
// frame; a frame that arrives while no one waits is read when the next
// receive is waited for, or by the reader goroutine within standByIdle.
const standByIdle = time.Millisecond

// standBy is how the reader goroutine waits for a token that an inline
// reader holds: until that reader hands the socket back (its receive is
// not complete: the reader goroutine must deliver it), or until no inline
// reader has held the token for standByIdle. It returns holding the token.
func (st *stream) standBy() {
	st.bgWait.Store(true)
	defer st.bgWait.Store(false)
	for {
		if st.tok.CompareAndSwap(false, true) {
			if time.Since(time.Unix(0, st.lastInline.Load())) >= standByIdle {
				return
			}
			st.tok.Store(false) // inline readers were here just now
		}
		if st.idle == nil {
			st.idle = time.NewTimer(standByIdle)
		} else {
			st.idle.Reset(standByIdle)
		}
		select {
		case <-st.wake:
			if st.tok.CompareAndSwap(false, true) {
				st.idle.Stop()
				return
			}
		case <-st.idle.C:
		}
	}
}

// liveEndpoints counts the open ImplNet endpoints of this process. Inline
// reads are for a process that is one rank: where several ranks share a
// process (RunLocal over TCP, tests), a spinning rank would hold a
// processor that another rank of the same process needs to make the very
// progress it waits for, so they do not spin.
var liveEndpoints atomic.Int32

// spinShared lets endpoints that share their process spin all the same
// (tests of the inline path, whose ranks all live in the test process).
var spinShared atomic.Bool

// Yielding. Between its attempts an inline reader gives its processor to
// another runnable thread (osYield) when the host's ranks share
// processors: the peer this rank waits for may need it. When every rank
// has one of its own (Config.LocalRanks <= cpus.Host(), endpoint.yield
// false) it does not: the only threads a yield lets in are this process's
// own, chiefly the Go runtime's sysmon, which after a start or an idle
// spell wakes every 20-90 us for some milliseconds, and a yield handed it
// the core in the middle of every such operation (10-40 us each). With
// kizuna run's agent starting bound ranks under SCHED_BATCH, sysmon's
// wake-ups then wait for the scheduler tick instead (internal/launch,
// bind.go).

// osYield gives the processor to another runnable thread, if any: on a
// loaded machine the peer this rank waits for may need it.
func osYield() { syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0) }

// Raw system calls. Every read and write of a socket here is
// non-blocking (the netpoller does the waiting), so it needs none of
// what syscall.Syscall does around a call that may block: handing the P
// to another thread if the call lasts, and, on the way in, waking the
// runtime's monitor thread when it sleeps, which it does whenever the
// process was idle, that is before nearly every frame of a rank that
// waits for its peers (a futex wake-up, 5% of the CPU time of a 64 KiB
// all-reduce at np=2 in perf). The copy of a large payload runs
// on the P it started on.

// rawRead is read(2) of fd into b as a raw system call.
func rawRead(fd uintptr, b []byte) (int, error) {
	n, _, errno := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// readOnce is one non-blocking read of fd into b, retried on EINTR:
// errAgain when nothing has arrived, io.EOF at the end of the stream (a
// read of nothing into a non-empty b).
func readOnce(fd uintptr, b []byte) (int, error) {
	for {
		n, err := rawRead(fd, b)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK:
			return 0, errAgain
		case err != nil:
			return 0, err
		case n == 0 && len(b) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// rawReader is the reader goroutine's blocking read of a socket: rawRead
// while data is there, the netpoller while it is not (rc.Read). Its
// method value is made once, so a read allocates nothing.
type rawReader struct {
	rc  syscall.RawConn
	fn  func(fd uintptr) bool
	dst []byte
	n   int
	err error
}

func newRawReader(rc syscall.RawConn) *rawReader {
	r := &rawReader{rc: rc}
	r.fn = r.read
	return r
}

func (r *rawReader) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	r.dst = b
	err := r.rc.Read(r.fn)
	r.dst = nil
	if err != nil {
		return 0, err
	}
	return r.n, r.err
}

func (r *rawReader) read(fd uintptr) bool {
	n, err := readOnce(fd, r.dst)
	if err == errAgain {
		return false // wait for the socket
	}
	r.n, r.err = n, err
	return true
}

// fastWrite is the state of netLink.tryWrite, kept in the link so that a
// write allocates nothing.
type fastWrite struct {
	l   *netLink
	rc  syscall.RawConn // nil if the connection offers none
	fn  func(fd uintptr) bool
	iov [2]syscall.Iovec
	n   int
	err error
}

func (w *fastWrite) init(l *netLink) {
	w.l = l
	if rc, err := l.c.SyscallConn(); err == nil {
		w.rc = rc
		w.fn = w.writev
	}
}

// writev is the rc.Write callback: one non-blocking writev of l.nb. It
// never asks to wait for the socket.
func (w *fastWrite) writev(fd uintptr) bool {
	n := 0
	for _, b := range w.l.nb {
		if len(b) == 0 {
			continue
		}
		w.iov[n].Base = &b[0]
		w.iov[n].SetLen(len(b))
		n++
	}
	for {
		r, _, errno := syscall.RawSyscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&w.iov[0])), uintptr(n))
		if errno == syscall.EINTR {
			continue
		}
		w.n, w.err = int(r), nil
		if errno != 0 {
			w.n = 0
			if errno != syscall.EAGAIN {
				w.err = errno
			}
		}
		break
	}
	w.iov = [2]syscall.Iovec{} // do not retain the caller's payload
	return true
}

// tryWrite writes what it can of l.nb with one non-blocking writev and
// drops the bytes written from l.nb. It reports whether the whole frame
// went out.
func (l *netLink) tryWrite() (bool, error) {
	w := &l.fw
	if w.rc == nil {
		return false, nil
	}
	if err := w.rc.Write(w.fn); err != nil {
		return false, err
	}
	if w.err != nil {
		return false, w.err
	}
	n := w.n
	for len(l.nb) > 0 && n >= len(l.nb[0]) {
		n -= len(l.nb[0])
		l.nb = l.nb[1:]
	}
	if len(l.nb) == 0 {
		return true, nil
	}
	l.nb[0] = l.nb[0][n:]
	return false, nil
}
