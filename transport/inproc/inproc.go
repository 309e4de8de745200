package inproc

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/kizuna-hpc/kizuna/transport"
)

// Fabric connects size in-process endpoints. It starts no goroutines.
type Fabric struct {
	eps   []*endpoint
	yield func() // lets the receiving goroutine run while a sender waits (awaitPost); tests replace it
}

// NewFabric returns a fabric of size ranks, size >= 1.
func NewFabric(size int) *Fabric {
	if size < 1 {
		panic(fmt.Sprintf("inproc: fabric size %d < 1", size))
	}
	f := &Fabric{eps: make([]*endpoint, size), yield: runtime.Gosched}
	for r := range f.eps {
		f.eps[r] = &endpoint{fabric: f, rank: r, mux: transport.NewMux(r, size)}
		f.eps[r].mux.SetFIFO(true) // Send delivers synchronously, in order
	}
	return f
}

// Endpoint returns rank's endpoint; every call for one rank returns the same
// endpoint. It panics if rank is out of range.
func (f *Fabric) Endpoint(rank int) transport.Endpoint {
	return f.eps[rank]
}

// Close closes every endpoint of the fabric. It is safe to call more than once.
func (f *Fabric) Close() error {
	for _, ep := range f.eps {
		_ = ep.Close()
	}
	return nil
}

// endpoint is one rank of a Fabric. Its methods are safe for concurrent use.
type endpoint struct {
	fabric    *Fabric
	rank      int
	mux       *transport.Mux
	closed    atomic.Bool
	closeOnce sync.Once
}

var _ transport.Endpoint = (*endpoint)(nil)

func (e *endpoint) Rank() int           { return e.rank }
func (e *endpoint) Size() int           { return len(e.fabric.eps) }
func (e *endpoint) Name() string        { return "inproc" }
func (e *endpoint) Mux() *transport.Mux { return e.mux }

// Send delivers h and payload to peer's Mux before it returns: the payload is
// copied once, into peer's posted receive buffer or an unexpected buffer, and
// not retained. For a collective frame of at least postWaitMin bytes whose
// receive peer has not posted yet, in an operation peer has started, Send
// first yields once (awaitPost) so that the frame more often lands in the
// receive's buffer than in an unexpected one. ctx is only checked on entry:
// Send blocks only when this rank has run more than the Mux's hold limit
// ahead of peer.
func (e *endpoint) Send(ctx context.Context, peer int, h *transport.Header, payload []byte) error {
	if peer < 0 || peer >= len(e.fabric.eps) || peer == e.rank {
		return fmt.Errorf("inproc: send from rank %d: invalid peer %d", e.rank, peer)
	}
	if len(payload) > transport.MaxPayload {
		return fmt.Errorf("inproc: send to rank %d: payload of %d bytes exceeds %d", peer, len(payload), transport.MaxPayload)
	}
	if e.closed.Load() {
		return &transport.PeerError{Peer: peer, Op: "send", Err: transport.ErrClosed}
	}
	if err := ctx.Err(); err != nil {
		return &transport.PeerError{Peer: peer, Op: "send", Err: err}
	}
	dst := e.fabric.eps[peer]
	if dst.closed.Load() {
		return &transport.PeerError{Peer: peer, Op: "send", Err: transport.ErrClosed}
	}
	h.Src = int32(e.rank)
	h.Len = uint32(len(payload))
	if h.Kind == transport.KindColl && len(payload) >= postWaitMin {
		e.awaitPost(dst, h.Key())
	}
	// Waits only when this rank has run more than the hold limit ahead of
	// peer (transport.Mux.DeliverCtx).
	if err := dst.mux.DeliverCtx(ctx, h, payload); err != nil {
		return &transport.PeerError{Peer: peer, Op: "send", Err: err}
	}
	return nil
}

// postWaitMin is the smallest collective payload for which Send, finding
// the receive not posted yet, yields once to let the receiving goroutine
// post it: copying a smaller payload twice costs less than the check.
const postWaitMin = 16 << 10

// awaitPost gives dst one chance to post the receive for k before the frame
// is delivered: if dst has started k's operation but not yet posted the
// receive, Send yields once (fabric.yield, runtime.Gosched), so that a
// runnable receiving goroutine posts it and the payload is copied once,
// straight into the receive buffer, instead of twice (into a pooled
// unexpected buffer, then out of it). It never waits for more: a longer,
// timed wait burns a core that an oversubscribed host (more goroutine ranks
// than cores) needs, and measured no faster (docs/performance.md,
// "Memory").
func (e *endpoint) awaitPost(dst *endpoint, k transport.Key) {
	if posted, started := dst.mux.Posted(k); posted || !started {
		return
	}
	e.fabric.yield()
}

// Close fails this endpoint's receives with transport.ErrClosed, and its
// peers' receives from it with a *transport.PeerError. Frames it sent before
// Close stay deliverable. It is safe to call more than once.
func (e *endpoint) Close() error {
	e.closeOnce.Do(func() {
		e.closed.Store(true)
		e.mux.Fail(transport.ErrClosed)
		for _, p := range e.fabric.eps {
			if p != e {
				p.mux.FailPeer(e.rank, transport.ErrClosed)
			}
		}
	})
	return nil
}
