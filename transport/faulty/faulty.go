package faulty

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kizuna-hpc/kizuna/transport"
)

// ErrDropped is the failure of a link that the fabric dropped.
var ErrDropped = errors.New("faulty: link dropped by fault injection")

// Config says which faults to inject and how often. Probabilities are per
// data frame sent.
type Config struct {
	Seed        uint64        // seeds every rank's generator (with its rank)
	DelayProb   float64       // probability that a frame waits before it is sent
	MaxDelay    time.Duration // a delayed frame waits uniformly in [0, MaxDelay)
	DropProb    float64       // probability that the link to the frame's peer is dropped instead
	CorruptProb float64       // probability that one payload byte is flipped in transit
}

// Stats counts the faults injected so far.
type Stats struct {
	Frames, Delayed, Dropped, Corrupted int64
}

// Fabric injects faults into the endpoints it wraps, one per rank. Its
// methods are safe for concurrent use.
type Fabric struct {
	cfg     Config
	mu      sync.Mutex
	eps     []*Endpoint
	dropped map[[2]int]bool // unordered pair {low, high}
	armed   atomic.Bool

	frames, delayed, drops, corrupted atomic.Int64
}

// New returns a fabric of size ranks injecting the faults cfg describes.
// It starts armed; SetArmed(false) lets frames through untouched.
func New(size int, cfg Config) *Fabric {
	f := &Fabric{cfg: cfg, eps: make([]*Endpoint, size), dropped: make(map[[2]int]bool)}
	f.armed.Store(true)
	return f
}

// SetArmed turns fault injection on or off (frames pass untouched while
// off; links already dropped stay dropped).
func (f *Fabric) SetArmed(on bool) { f.armed.Store(on) }

// Stats returns the faults injected so far.
func (f *Fabric) Stats() Stats {
	return Stats{Frames: f.frames.Load(), Delayed: f.delayed.Load(), Dropped: f.drops.Load(), Corrupted: f.corrupted.Load()}
}

// Wrap returns ep with faults injected into what it sends. ep's rank must
// be in range and not wrapped yet. Closing the result closes ep.
func (f *Fabric) Wrap(ep transport.Endpoint) (*Endpoint, error) {
	r := ep.Rank()
	f.mu.Lock()
	defer f.mu.Unlock()
	if r < 0 || r >= len(f.eps) || ep.Size() != len(f.eps) {
		return nil, fmt.Errorf("faulty: endpoint of rank %d of %d does not fit a fabric of %d", r, ep.Size(), len(f.eps))
	}
	if f.eps[r] != nil {
		return nil, fmt.Errorf("faulty: rank %d wrapped twice", r)
	}
	e := &Endpoint{inner: ep, f: f, rng: rand.New(rand.NewPCG(f.cfg.Seed, uint64(r)))}
	f.eps[r] = e
	return e, nil
}

// Drop drops the link between ranks a and b, as if its connection broke.
func (f *Fabric) Drop(a, b int) {
	k := [2]int{min(a, b), max(a, b)}
	f.mu.Lock()
	if f.dropped[k] {
		f.mu.Unlock()
		return
	}
	f.dropped[k] = true
	ea, eb := f.eps[a], f.eps[b]
	f.mu.Unlock()
	f.drops.Add(1)
	err := fmt.Errorf("link %d-%d: %w", a, b, ErrDropped)
	if ea != nil {
		ea.inner.Mux().FailPeer(b, err)
	}
	if eb != nil {
		eb.inner.Mux().FailPeer(a, err)
	}
}

func (f *Fabric) isDropped(a, b int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dropped[[2]int{min(a, b), max(a, b)}]
}

// Endpoint is one rank's endpoint with faults injected into its sends.
type Endpoint struct {
	inner transport.Endpoint
	f     *Fabric
	mu    sync.Mutex // guards rng
	rng   *rand.Rand
}

var _ transport.Endpoint = (*Endpoint)(nil)

func (e *Endpoint) Rank() int           { return e.inner.Rank() }
func (e *Endpoint) Size() int           { return e.inner.Size() }
func (e *Endpoint) Name() string        { return e.inner.Name() }
func (e *Endpoint) Mux() *transport.Mux { return e.inner.Mux() }
func (e *Endpoint) Close() error        { return e.inner.Close() }

// Send sends through the wrapped endpoint, first deciding (for a data
// frame, while the fabric is armed) whether to delay it, drop the link to
// peer instead, or flip one byte of a copy of its payload.
func (e *Endpoint) Send(ctx context.Context, peer int, h *transport.Header, payload []byte) error {
	if peer >= 0 && peer < e.Size() && peer != e.Rank() && e.f.isDropped(e.Rank(), peer) {
		return &transport.PeerError{Peer: peer, Op: "send", Err: ErrDropped}
	}
	if h.Kind != transport.KindColl && h.Kind != transport.KindP2P || !e.f.armed.Load() {
		return e.inner.Send(ctx, peer, h, payload)
	}
	cfg := &e.f.cfg
	e.f.frames.Add(1)
	e.mu.Lock()
	delay := time.Duration(0)
	if cfg.DelayProb > 0 && cfg.MaxDelay > 0 && e.rng.Float64() < cfg.DelayProb {
		delay = time.Duration(e.rng.Int64N(int64(cfg.MaxDelay)))
	}
	drop := cfg.DropProb > 0 && e.rng.Float64() < cfg.DropProb
	corrupt := -1
	if cfg.CorruptProb > 0 && len(payload) > 0 && e.rng.Float64() < cfg.CorruptProb {
		corrupt = e.rng.IntN(len(payload))
	}
	e.mu.Unlock()
	if delay > 0 {
		e.f.delayed.Add(1)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return &transport.PeerError{Peer: peer, Op: "send", Err: context.Cause(ctx)}
		}
	}
	if drop {
		e.f.Drop(e.Rank(), peer)
		return &transport.PeerError{Peer: peer, Op: "send", Err: ErrDropped}
	}
	if corrupt < 0 {
		return e.inner.Send(ctx, peer, h, payload)
	}
	e.f.corrupted.Add(1)
	bad := append([]byte(nil), payload...) // the caller's buffer is never changed
	bad[corrupt] ^= 0x5a
	return e.inner.Send(ctx, peer, h, bad)
}
