package tcp

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kizuna-hpc/kizuna/internal/cpus"
	"github.com/kizuna-hpc/kizuna/transport"
)

// closeLinger bounds how long Close waits, after half-closing every socket,
// for the peers to close their side (they do as soon as their reader sees
// the end of stream). Closing with unread data would make the kernel reset
// the connection and could destroy frames the peer has not read yet.
const closeLinger = 2 * time.Second

// endpoint is one rank's set of TCP links. Its methods are safe for
// concurrent use.
type endpoint struct {
	rank, size int
	impl       string
	mux        *transport.Mux
	peers      []*peer // nil at rank
	log        *slog.Logger

	spin time.Duration // inline read budget of Mux.Wait (fastpath.go); 0: off
	// yield: an inline reader gives its processor away (sched_yield)
	// between attempts; not when every rank of the host has a processor
	// of its own (fastpath.go, "Yielding").
	yield     bool
	counted   bool // counted in liveEndpoints until Close
	closed    atomic.Bool
	closeOnce sync.Once
	readers   sync.WaitGroup // one reader goroutine per socket
	beats     sync.WaitGroup // the heartbeat goroutine and its writes (heartbeat.go)
	stopBeat  chan struct{}  // closed by Close
}

var _ transport.Endpoint = (*endpoint)(nil)

type peer struct {
	rank  int
	socks []*sock
	next  atomic.Uint32 // round-robin cursor over socks

	failOnce sync.Once
	err      atomic.Pointer[error] // set once the link to this peer failed
	eofs     atomic.Int32          // sockets that reached a clean end of stream
	sent     atomic.Uint64         // frames sent, for the heartbeat goroutine
	beating  atomic.Bool           // a heartbeat write is in progress
}

// sock is one connection to a peer.
type sock struct {
	mu       sync.Mutex // serialises frames written to l
	hdr      [transport.HeaderSize]byte
	released bool // l has been released by Close; guarded by mu
	l        link
	reads    atomic.Uint64 // read calls returned, for the heartbeat goroutine
	st       *stream       // ImplNet on Linux: the read-ahead receive side (fastpath.go)
	inRead   atomic.Bool   // the reader goroutine is blocked reading from the peer
}

func newEndpoint(cfg *resolved, conns [][]*net.TCPConn) (*endpoint, error) {
	e := &endpoint{
		rank:  cfg.Rank,
		size:  cfg.Size,
		impl:  cfg.Impl,
		mux:   transport.NewMux(cfg.Rank, cfg.Size),
		peers: make([]*peer, cfg.Size),
		log:   cfg.Logger,
	}
	// One socket per peer delivers each peer's frames in order.
	e.mux.SetFIFO(cfg.SocketsPerPeer == 1)
	hostCPUs, err := cpus.Host()
	var spin time.Duration
	if err == nil {
		spin, err = spinBudget(cfg.LocalRanks, hostCPUs)
	}
	if err != nil {
		for _, cs := range conns {
			for _, c := range cs {
				if c != nil {
					_ = c.Close()
				}
			}
		}
		return nil, err
	}
	if cfg.Impl == ImplNet {
		e.spin = spin
		e.yield = !cpus.Dedicated(cfg.LocalRanks, hostCPUs)
	}
	for p, cs := range conns {
		if p == cfg.Rank || cs == nil { // no link to p
			continue
		}
		pr := &peer{rank: p, socks: make([]*sock, len(cs))}
		e.peers[p] = pr
		for i, c := range cs {
			var l link
			if err == nil {
				l, err = newLink(cfg.Impl, c)
			} else {
				_ = c.Close()
			}
			if l != nil {
				s := &sock{l: l}
				pr.socks[i] = s
				if cfg.Impl == ImplNet && err == nil {
					s.st, err = newStream(e, pr, s, c)
				}
			}
		}
	}
	if err != nil {
		for _, pr := range e.peers {
			if pr == nil {
				continue
			}
			for _, s := range pr.socks {
				if s != nil {
					s.l.interrupt()
					s.l.release()
				}
			}
		}
		return nil, fmt.Errorf("tcp: rank %d: %w", cfg.Rank, err)
	}
	for _, pr := range e.peers {
		if pr == nil {
			continue
		}
		for _, s := range pr.socks {
			e.readers.Add(1)
			if s.st != nil {
				go e.streamLoop(pr, s)
			} else {
				go e.readLoop(pr, s)
			}
		}
	}
	if cfg.Impl == ImplNet {
		liveEndpoints.Add(1) // until Close (fastpath.go)
		e.counted = true
	}
	if e.spin > 0 {
		e.mux.SetPoller(e.poll)
	}
	e.stopBeat = make(chan struct{})
	if cfg.Heartbeat > 0 && cfg.Size > 1 {
		e.beats.Add(1)
		go e.heartbeat(cfg.Heartbeat, e.stopBeat)
	}
	return e, nil
}

func newLink(impl string, c *net.TCPConn) (link, error) {
	if impl == ImplNetpoll {
		return newNetpollLink(c)
	}
	return newNetLink(c), nil
}

func (e *endpoint) Rank() int           { return e.rank }
func (e *endpoint) Size() int           { return e.size }
func (e *endpoint) Name() string        { return "tcp" }
func (e *endpoint) Mux() *transport.Mux { return e.mux }

// Send writes the frame on one of peer's sockets (round-robin), header and
// payload together with one vectored write; concurrent Sends to one peer are
// serialised per socket, one lock per frame. It returns once the frame is
// in the kernel's socket buffer and does not retain payload.
//
// ctx is checked before the write and, with the net implementation, every
// 100 ms while a write is blocked (a peer that stopped reading: stalled,
// stopped, or swamped): when ctx has ended, the frame is left partly
// written, so the link to peer is failed and Send returns ctx's error in a
// *transport.PeerError. Readers drain their sockets continuously (frames
// without a posted receive are buffered), so a healthy peer never blocks a
// write for long. A failed write fails the whole link to peer.
func (e *endpoint) Send(ctx context.Context, peer int, h *transport.Header, payload []byte) error {
	if peer < 0 || peer >= e.size || peer == e.rank {
		return fmt.Errorf("tcp: send from rank %d: invalid peer %d", e.rank, peer)
	}
	if len(payload) > transport.MaxPayload {
		return fmt.Errorf("tcp: send to rank %d: payload of %d bytes exceeds %d", peer, len(payload), transport.MaxPayload)
	}
	if e.closed.Load() {
		return &transport.PeerError{Peer: peer, Op: "send", Err: transport.ErrClosed}
	}
	p := e.peers[peer]
	if p == nil {
		return fmt.Errorf("tcp: send from rank %d: no link to rank %d", e.rank, peer)
	}
	if err := p.failure(); err != nil {
		return &transport.PeerError{Peer: peer, Op: "send", Err: err}
	}
	if ctx.Done() != nil {
		if err := ctx.Err(); err != nil {
			return &transport.PeerError{Peer: peer, Op: "send", Err: context.Cause(ctx)}
		}
	}
	h.Src = int32(e.rank)
	h.Len = uint32(len(payload))
	s := p.socks[0]
	if n := uint32(len(p.socks)); n > 1 {
		s = p.socks[p.next.Add(1)%n]
	}
	p.sent.Add(1)
	s.mu.Lock()
	var err error
	if s.released {
		err = transport.ErrClosed
	} else {
		h.MarshalTo(s.hdr[:])
		err = s.l.writeFrame(ctx, s.hdr[:], payload)
	}
	s.mu.Unlock()
	if err != nil {
		if e.closed.Load() {
			err = transport.ErrClosed
		}
		e.fail(p, err)
		return &transport.PeerError{Peer: peer, Op: "send", Err: p.failure()}
	}
	return nil
}

func (p *peer) failure() error {
	if ep := p.err.Load(); ep != nil {
		return *ep
	}
	return nil
}

// fail marks the link to p failed (first error wins), fails the receives
// from p and interrupts p's sockets, which stops their readers. The first
// failure of a live link is logged: it affects every user of the peer.
func (e *endpoint) fail(p *peer, err error) {
	p.failOnce.Do(func() {
		p.err.Store(&err)
		if !e.closed.Load() && err != errPeerClosed {
			e.log.Warn("tcp: lost link", "rank", e.rank, "peer", p.rank, "err", err)
		}
		e.mux.FailPeer(p.rank, err)
		for _, s := range p.socks {
			s.l.interrupt()
		}
	})
}

// payloadReader is the stream DeliverFrom reads payloads from. A read error
// there always breaks the stream, and it fails the peer before DeliverFrom
// can complete a receive with it, so that once any receive has seen the
// peer's failure, Send to the peer fails too.
type payloadReader struct {
	e  *endpoint
	p  *peer
	rd io.Reader
}

func (r *payloadReader) Read(b []byte) (int, error) {
	n, err := r.rd.Read(b)
	if err == nil {
		return n, nil
	}
	if n > 0 {
		return n, nil // the next Read reports it
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF // within a frame
	}
	r.e.fail(r.p, err)
	return 0, err
}

// errPeerClosed is the failure of a peer that closed every connection
// cleanly (at a frame boundary).
var errPeerClosed = transport.ErrPeerClosed

// readLoop reads frames from one socket and delivers them to the Mux, until
// the socket fails or is closed. A clean end of stream on one socket does
// not fail the peer while its other sockets may still carry frames it sent
// before closing; the last one does.
func (e *endpoint) readLoop(p *peer, s *sock) {
	defer e.readers.Done()
	rd := &watchReader{rd: s.l.reader(), s: s}
	prd := &payloadReader{e: e, p: p, rd: rd}
	hb := make([]byte, transport.HeaderSize)
	h := new(transport.Header)
	for {
		err := e.readFrame(p, rd, prd, hb, h)
		if err == nil {
			continue
		}
		if e.closed.Load() {
			return // our own Close tears the links down
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

// readFrame reads and delivers one frame, its header from rd and its payload
// from prd. It returns io.EOF only for an end of stream before the first
// byte of a header.
func (e *endpoint) readFrame(p *peer, rd, prd io.Reader, hb []byte, h *transport.Header) error {
	if _, err := io.ReadFull(rd, hb); err != nil {
		return err
	}
	if err := h.UnmarshalFrom(hb); err != nil {
		return err
	}
	if int(h.Src) != p.rank {
		return fmt.Errorf("%w: frame from rank %d names source rank %d", transport.ErrProtocol, p.rank, h.Src)
	}
	return e.mux.DeliverFrom(h, prd)
}

// Close fails pending receives with transport.ErrClosed, half-closes every
// socket so that peers read every frame already sent and then the end of the
// stream, waits up to closeLinger for them to close their side, then closes
// every socket and waits for every reader goroutine. Peers' receives from
// this rank fail with a *transport.PeerError. It is safe to call more than
// once; later calls return at once.
func (e *endpoint) Close() error {
	e.closeOnce.Do(func() {
		e.closed.Store(true)
		if e.counted {
			liveEndpoints.Add(-1)
		}
		close(e.stopBeat)
		e.mux.Fail(transport.ErrClosed)
		for _, p := range e.peers {
			if p == nil {
				continue
			}
			for _, s := range p.socks {
				s.l.closeWrite()
			}
		}
		done := make(chan struct{})
		go func() {
			e.readers.Wait()
			close(done)
		}()
		t := time.NewTimer(closeLinger)
		select {
		case <-done:
		case <-t.C:
		}
		t.Stop()
		for _, p := range e.peers {
			if p == nil {
				continue
			}
			for _, s := range p.socks {
				s.l.interrupt()
			}
		}
		<-done
		e.beats.Wait() // the links are interrupted: heartbeat writes have ended
		for _, p := range e.peers {
			if p == nil {
				continue
			}
			for _, s := range p.socks {
				s.mu.Lock() // no write in progress, and none after
				s.released = true
				s.l.release()
				s.mu.Unlock()
			}
		}
	})
	return nil
}
