package emu

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/kizuna-hpc/kizuna/topology"
	"github.com/kizuna-hpc/kizuna/transport"
)

// QueueDepth is the most frames that wait for delivery to one peer: an
// emulated NIC send queue. It bounds the memory the wrapper holds per peer.
const QueueDepth = 64

// ErrSpec is wrapped by every error ParseSpec and NewNetwork return.
var ErrSpec = errors.New("emu: bad emulation spec")

// Config describes an emulated network.
type Config struct {
	Topo  topology.Topology
	Place topology.Placement // rank -> node
	// LinkBW is the bandwidth of one directed link, bytes per second.
	LinkBW float64
	// HopLatency is the delay per link crossed.
	HopLatency time.Duration
	// LocalBW is the bandwidth between two ranks on one node, bytes per
	// second; 0 means unlimited (no delay).
	LocalBW float64
}

// Network is the shared link state of one emulated network.
type Network struct {
	cfg Config
	mu  sync.Mutex
	// ids numbers the directed links routes have used; next[id] is when the
	// link's last reservation ends.
	ids  map[topology.Link]int
	next []time.Time
	// dead marks ranks whose wrapped endpoint was closed.
	dead []bool
	now  func() time.Time
}

// NewNetwork checks cfg and returns a Network with every link idle.
func NewNetwork(cfg Config) (*Network, error) {
	switch {
	case cfg.Topo == nil:
		return nil, fmt.Errorf("%w: no topology", ErrSpec)
	case !(cfg.LinkBW > 0):
		return nil, fmt.Errorf("%w: link bandwidth %g B/s, want > 0", ErrSpec, cfg.LinkBW)
	case cfg.HopLatency < 0 || cfg.LocalBW < 0:
		return nil, fmt.Errorf("%w: negative latency or local bandwidth", ErrSpec)
	case cfg.Place.Ranks() < 1:
		return nil, fmt.Errorf("%w: no ranks placed", ErrSpec)
	}
	if err := cfg.Place.Validate(cfg.Topo); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSpec, err)
	}
	return &Network{cfg: cfg, ids: make(map[topology.Link]int), dead: make([]bool, cfg.Place.Ranks()), now: time.Now}, nil
}

// Config returns the network's configuration.
func (n *Network) Config() Config { return n.cfg }

// route returns the link ids of the route from rank src to rank dst.
func (n *Network) route(src, dst int) []int {
	links := n.cfg.Topo.Route(n.cfg.Place.Nodes[src], n.cfg.Place.Nodes[dst])
	n.mu.Lock()
	defer n.mu.Unlock()
	ids := make([]int, len(links))
	for i, l := range links {
		id, ok := n.ids[l]
		if !ok {
			id = len(n.next)
			n.ids[l] = id
			n.next = append(n.next, time.Time{})
		}
		ids[i] = id
	}
	return ids
}

// reserve books a frame of size bytes sent at now on every link of route
// (link ids from n.route) and returns when it is delivered.
func (n *Network) reserve(now time.Time, route []int, size int) time.Time {
	if len(route) == 0 {
		if n.cfg.LocalBW == 0 {
			return now
		}
		return now.Add(seconds(float64(size) / n.cfg.LocalBW))
	}
	d := seconds(float64(size) / n.cfg.LinkBW)
	n.mu.Lock()
	defer n.mu.Unlock()
	end := now
	for _, id := range route {
		start := n.next[id]
		if start.Before(now) {
			start = now
		}
		fin := start.Add(d)
		n.next[id] = fin
		if fin.After(end) {
			end = fin
		}
	}
	return end.Add(time.Duration(len(route)) * n.cfg.HopLatency)
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func (n *Network) setDead(r int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.dead[r] = true
}

func (n *Network) isDead(r int) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.dead[r]
}

// Wrap returns an endpoint that sends through ep under the network's
// model. ep's rank must be placed on the network and its fabric size must
// be the number of ranks placed. The wrapper owns ep: closing the wrapper
// closes ep. Name and Mux are ep's.
func (n *Network) Wrap(ep transport.Endpoint) (transport.Endpoint, error) {
	if ep.Size() != n.cfg.Place.Ranks() {
		return nil, fmt.Errorf("%w: endpoint of a %d-rank fabric on a network of %d placed ranks", ErrSpec, ep.Size(), n.cfg.Place.Ranks())
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &endpoint{net: n, ep: ep, ctx: ctx, cancel: cancel, peers: make([]*peerQueue, ep.Size()), closing: make(chan struct{})}
	for p := range e.peers {
		if p == ep.Rank() {
			continue
		}
		q := &peerQueue{ch: make(chan frame, QueueDepth), route: n.route(ep.Rank(), p)}
		e.peers[p] = q
		e.wg.Add(1)
		go e.deliver(p, q)
	}
	return e, nil
}

// frame is one queued send.
type frame struct {
	h   transport.Header
	buf *[]byte
	at  time.Time
}

// peerQueue is the delivery queue to one peer.
type peerQueue struct {
	ch    chan frame // QueueDepth frames: the emulated NIC send queue
	route []int      // link ids to the peer
	mu    sync.Mutex
	err   error // first delivery failure, returned by later Sends
}

type endpoint struct {
	net    *Network
	ep     transport.Endpoint
	ctx    context.Context // ends at Close; owned by the delivery goroutines
	cancel context.CancelFunc
	peers  []*peerQueue
	wg     sync.WaitGroup
	pool   sync.Pool // *[]byte frame copies
	// mu is held shared by Send while it queues a frame and exclusively by
	// Close while it closes the queues, so no Send queues on a closed one.
	mu      sync.RWMutex
	closed  bool
	closing chan struct{} // closed when Close starts: unblocks waiting Sends
	once    sync.Once
}

var _ transport.Endpoint = (*endpoint)(nil)

func (e *endpoint) Rank() int           { return e.ep.Rank() }
func (e *endpoint) Size() int           { return e.ep.Size() }
func (e *endpoint) Name() string        { return e.ep.Name() }
func (e *endpoint) Mux() *transport.Mux { return e.ep.Mux() }

// Send implements transport.Endpoint: it copies payload, reserves the
// route's links and queues the frame for delivery at the modelled time.
func (e *endpoint) Send(ctx context.Context, peer int, h *transport.Header, payload []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if peer < 0 || peer >= e.Size() || peer == e.Rank() {
		return fmt.Errorf("emu: rank %d: send to rank %d: no such peer", e.Rank(), peer)
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return &transport.PeerError{Peer: peer, Op: "send", Err: transport.ErrClosed}
	}
	if e.net.isDead(peer) {
		return &transport.PeerError{Peer: peer, Op: "send", Err: transport.ErrClosed}
	}
	q := e.peers[peer]
	q.mu.Lock()
	err := q.err
	q.mu.Unlock()
	if err != nil {
		return err
	}
	buf, _ := e.pool.Get().(*[]byte)
	if buf == nil || cap(*buf) < len(payload) {
		b := make([]byte, len(payload))
		buf = &b
	}
	*buf = append((*buf)[:0], payload...)
	f := frame{h: *h, buf: buf}
	f.at = e.net.reserve(e.net.now(), q.route, len(payload))
	select {
	case q.ch <- f:
		return nil
	case <-ctx.Done():
		e.pool.Put(buf)
		return ctx.Err()
	case <-e.closing:
		e.pool.Put(buf)
		return &transport.PeerError{Peer: peer, Op: "send", Err: transport.ErrClosed}
	}
}

// deliver hands q's frames to the wrapped endpoint at their times, in
// order, until Close has closed the queue and it is drained, or Close gives
// up on draining.
func (e *endpoint) deliver(peer int, q *peerQueue) {
	defer e.wg.Done()
	t := time.NewTimer(0)
	defer t.Stop()
	<-t.C
	for f := range q.ch {
		if e.ctx.Err() != nil {
			e.pool.Put(f.buf)
			continue
		}
		if d := time.Until(f.at); d > 0 {
			t.Reset(d)
			select {
			case <-t.C:
			case <-e.ctx.Done():
				e.pool.Put(f.buf)
				continue
			}
		}
		err := e.ep.Send(e.ctx, peer, &f.h, *f.buf)
		e.pool.Put(f.buf)
		if err != nil {
			q.mu.Lock()
			if q.err == nil {
				q.err = err
			}
			q.mu.Unlock()
		}
	}
}

// FlushTimeout bounds how long Close waits for queued frames to be
// delivered (as a closed socket still sends what its buffer holds) before
// dropping the rest.
const FlushTimeout = 5 * time.Second

// Close refuses further sends, delivers the frames already queued (for at
// most FlushTimeout), stops and waits for the delivery goroutines and
// closes the wrapped endpoint. Peers' later sends to this rank fail.
func (e *endpoint) Close() error {
	e.once.Do(func() { close(e.closing) })
	e.mu.Lock()
	already := e.closed
	e.closed = true
	if !already {
		for _, q := range e.peers {
			if q != nil {
				close(q.ch)
			}
		}
	}
	e.mu.Unlock()
	if already {
		return e.ep.Close()
	}
	e.net.setDead(e.Rank())
	done := make(chan struct{})
	go func() {
		e.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(FlushTimeout):
		e.cancel()
		<-done
	}
	e.cancel()
	return e.ep.Close()
}
