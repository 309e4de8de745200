package inproc

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/kizuna-hpc/kizuna/transport"
)

// Fabric connects size in-process endpoints. It starts no goroutines.
type Fabric struct {
	eps []*endpoint
}

// NewFabric returns a fabric of size ranks, size >= 1.
func NewFabric(size int) *Fabric {
	if size < 1 {
		panic(fmt.Sprintf("inproc: fabric size %d < 1", size))
	}
	f := &Fabric{eps: make([]*endpoint, size)}
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
// not retained. ctx is only checked on entry: Send never blocks.
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
	// Waits only when this rank has run more than the hold limit ahead of
	// peer (transport.Mux.DeliverCtx).
	if err := dst.mux.DeliverCtx(ctx, h, payload); err != nil {
		return &transport.PeerError{Peer: peer, Op: "send", Err: err}
	}
	return nil
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
