package collective

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/kizuna-hpc/kizuna/collective/schedule"
	"github.com/kizuna-hpc/kizuna/transport"
)

// NoColor is the color a rank passes to Split to stay out of every new
// communicator.
const NoColor = -1

// registry routes the control and mismatch notices of the communicators
// that share one endpoint (the world and every communicator split from it)
// by the communicator id in the frame header.
type registry struct {
	mux   *transport.Mux
	mu    sync.Mutex
	comms map[uint32]*Comm
	// used holds every id registered or reserved on this endpoint; an id
	// is never reused, so a late frame of a closed communicator cannot
	// reach a new one.
	used map[uint32]struct{}
}

// group is a communicator's place in the split tree.
type group struct {
	reg      *registry
	parent   *Comm // nil for the communicator that owns the endpoint
	mu       sync.Mutex
	children map[*Comm]struct{}
	splits   uint64 // Split calls so far; the same on every rank
	closing  bool   // Close has begun: no new children
}

// register makes c the endpoint's root communicator and installs the
// notice routing on its Mux.
func (c *Comm) register() {
	reg := &registry{mux: c.mux, comms: map[uint32]*Comm{c.id: c}, used: map[uint32]struct{}{c.id: {}}}
	c.grp.reg = reg
	c.mux.SetControlHandler(reg.onControl)
	c.mux.SetMismatchHandler(reg.onMismatch)
	c.mux.SetPeerLostHandler(reg.onPeerLost) // heartbeat.go
}

// reserve marks id used and reports whether it was free.
func (r *registry) reserve(id uint32) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, taken := r.used[id]; taken {
		return false
	}
	r.used[id] = struct{}{}
	return true
}

func (r *registry) lookup(id uint32) *Comm {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.comms[id]
}

func (r *registry) add(c *Comm) {
	r.mu.Lock()
	r.comms[c.id] = c
	r.mu.Unlock()
}

func (r *registry) remove(c *Comm) {
	r.mu.Lock()
	if r.comms[c.id] == c {
		delete(r.comms, c.id)
	}
	r.mu.Unlock()
}

// onControl runs on a transport goroutine. A notice for a communicator
// this rank has not finished creating (its Split is still running here)
// fails that communicator in the Mux, where its first operation finds it.
func (r *registry) onControl(h *transport.Header, payload []byte) {
	if c := r.lookup(h.Comm); c != nil {
		c.onControl(h, payload)
		return
	}
	if len(payload) > maxControl {
		return
	}
	m, err := decodeControl(payload)
	if err != nil || m.Type != "abort" || m.Comm != h.Comm {
		return
	}
	r.mux.FailComm(h.Comm, remoteError(&m))
}

func (r *registry) onMismatch(me *transport.MismatchError) {
	if c := r.lookup(me.Local.Comm); c != nil {
		c.onMismatch(me)
	}
}

// remoteError is the failure a control message announces.
func remoteError(m *controlMsg) *RemoteError {
	re := &RemoteError{Origin: m.Origin, Lost: m.Lost, Reason: m.Reason}
	switch m.Kind {
	case "mismatch":
		re.cause = ErrMismatch
	case "abort":
		re.cause = ErrAborted
	}
	return re
}

// Split partitions c like MPI_Comm_split and ncclCommSplit: the ranks that
// pass the same color form a new communicator, numbered by (key, rank in c).
// A rank that passes NoColor takes part in the call but joins nothing and
// gets (nil, nil). Colors are otherwise non-negative.
//
// Split is a collective operation of c: every rank of c must call it, in
// the same order relative to c's other collectives. It runs two small
// collectives on c (an all-gather of every rank's color and key, and, only
// when a candidate id is already in use on some rank, an agreement round).
//
// The new communicator shares c's endpoint and connections: its frames
// carry its own communicator id, agreed by its members and never reused on
// any of them. It has its own operation sequence, asynchronous stream,
// timeout (c's, at the time of the split) and algorithm choices (no
// topology layout: KIZUNA_TOPOLOGY describes the world). It fails on its
// own: a mismatch, timeout or Abort in it leaves c usable, and a lost peer
// fails exactly the communicators that need that peer. Closing it leaves c
// open; closing (or aborting) c closes (or aborts) it and every
// communicator split from it. Closing a split communicator is local, as
// ncclCommDestroy is: close it on every member once the operations on it
// are done (a member that closes it early is not announced, so the others'
// pending operations on it end at their timeout; a member whose process
// ends is seen as lost at once). Communicators that share a link also
// share its bound on data that arrives before its receive is posted
// (transport.DefaultHoldLimit per source): a peer that runs more than that
// ahead on one communicator delays its frames for the others on the same
// link until this rank catches up.
func (c *Comm) Split(ctx context.Context, color, key int) (*Comm, error) {
	if color < NoColor || color > math.MaxInt32 {
		return nil, fmt.Errorf("%w: split: color %d, want a non-negative int32 or NoColor", ErrInvalid, color)
	}
	c.grp.mu.Lock()
	c.grp.splits++
	n := c.grp.splits
	c.grp.mu.Unlock()

	candidate := func(attempt int) (uint32, int64) {
		if color == NoColor {
			return 0, 0
		}
		id := splitID(c.id, n, color, attempt)
		if !c.grp.reg.reserve(id) {
			return id, 1
		}
		return id, 0
	}
	id, taken := candidate(0)
	all := make([]int64, 3*c.size)
	if err := AllGather(ctx, c, []int64{int64(color), int64(key), taken}, all, WithAlgo(schedule.Ring)); err != nil {
		return nil, fmt.Errorf("collective: split: %w", err)
	}
	collide := int64(0)
	for j := range c.size {
		collide = max(collide, all[3*j+2])
	}
	for attempt := 1; collide != 0; attempt++ {
		if attempt > maxSplitAttempts {
			return nil, fmt.Errorf("collective: split: no communicator id free on every member after %d attempts", attempt-1)
		}
		id, taken = candidate(attempt)
		flag := []int64{taken}
		if err := AllReduce(ctx, c, flag, flag, Max, WithAlgo(schedule.Ring)); err != nil {
			return nil, fmt.Errorf("collective: split: %w", err)
		}
		collide = flag[0]
	}
	if color == NoColor {
		return nil, nil
	}
	type member struct{ key, rank int }
	var ms []member
	for j := range c.size {
		if all[3*j] == int64(color) {
			ms = append(ms, member{int(all[3*j+1]), j})
		}
	}
	slices.SortFunc(ms, func(a, b member) int {
		return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.rank, b.rank))
	})
	peers := make([]int, len(ms))
	rank := -1
	for i, m := range ms {
		peers[i] = c.peers[m.rank]
		if m.rank == c.rank {
			rank = i
		}
	}
	child := c.child(id, rank, peers)
	if err := c.adopt(child); err != nil {
		return nil, err
	}
	return child, nil
}

// SetTimeout changes how long one operation of c may take (Config.Timeout
// for a communicator from New; a split communicator starts with its
// parent's). d must be positive. Call it before using c, or between
// operations: operations already running keep the old bound. It does not
// change the parent's or any other communicator's timeout.
func (c *Comm) SetTimeout(d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%w: timeout %v, want > 0", ErrInvalid, d)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timerMu.Lock()
	c.timeout = d
	if c.ticking {
		c.timer.Reset(d) // it re-checks the running operation, if any, when it fires
	}
	c.timerMu.Unlock()
	return nil
}

// Timeout returns how long one operation of c may take.
func (c *Comm) Timeout() time.Duration {
	c.timerMu.Lock()
	defer c.timerMu.Unlock()
	return c.timeout
}

// maxSplitAttempts bounds the rounds Split spends looking for an id that is
// free on every member (a collision of 32-bit hashes is rare already).
const maxSplitAttempts = 16

// splitID derives a candidate communicator id from what every rank of the
// parent knows alike: the parent's id, the number of its splits so far, the
// color and the attempt. It is never 0, the world's id.
func splitID(parent uint32, split uint64, color, attempt int) uint32 {
	h := fnv.New32a()
	var b [24]byte
	binary.LittleEndian.PutUint32(b[0:], parent)
	binary.LittleEndian.PutUint64(b[4:], split)
	binary.LittleEndian.PutUint32(b[12:], uint32(color))
	binary.LittleEndian.PutUint64(b[16:], uint64(attempt))
	h.Write(b[:])
	if id := h.Sum32(); id != 0 {
		return id
	}
	return 1
}

// child builds the sub-communicator with id in which this rank is rank and
// whose rank i is endpoint rank peers[i].
func (c *Comm) child(id uint32, rank int, peers []int) *Comm {
	ch := &Comm{
		rank:       rank,
		size:       len(peers),
		id:         id,
		ep:         c.ep,
		mux:        c.mux,
		peers:      peers,
		log:        c.log.With("comm", id, "comm_rank", rank),
		timeout:    c.Timeout(),
		chunkBytes: c.chunkBytes,
		checksum:   c.checksum,
		algoSpec:   c.algoSpec,
		costs:      c.Costs(),
		oversub:    c.oversub,
		scheds:     make(map[schedule.Params]*plan),
		choices:    make(map[choiceKey]schedule.Algo),
		sendSeq:    make(map[p2pKey]uint64),
		recvSeq:    make(map[p2pKey]uint64),
	}
	ch.life, ch.kill = context.WithCancelCause(context.Background())
	ch.timer = time.AfterFunc(time.Hour, ch.onTimeout)
	ch.timer.Stop()
	ch.grp.reg = c.grp.reg
	ch.grp.parent = c
	ch.obs = c.obs.forChild(ch) // its own flight recorder and timeline (flight.go)
	return ch
}

// adopt registers a new child of c, unless c is closing.
func (c *Comm) adopt(ch *Comm) error {
	c.grp.mu.Lock()
	defer c.grp.mu.Unlock()
	if c.grp.closing {
		ch.stopTimer()
		ch.kill(ErrClosed)
		if ch.obs != nil && ch.obs.metrics != nil {
			ch.obs.metrics.close() // off the parent's registry
		}
		return &OpError{Op: "split", Rank: c.rank, Peer: -1, Err: ErrClosed}
	}
	if c.grp.children == nil {
		c.grp.children = make(map[*Comm]struct{})
	}
	c.grp.children[ch] = struct{}{}
	c.grp.reg.add(ch)
	return nil
}

// childList returns c's live children; with closing, no new child is
// adopted afterwards.
func (c *Comm) childList(closing bool) []*Comm {
	c.grp.mu.Lock()
	defer c.grp.mu.Unlock()
	if closing {
		c.grp.closing = true
	}
	out := make([]*Comm, 0, len(c.grp.children))
	for ch := range c.grp.children {
		out = append(out, ch)
	}
	return out
}

// closeChildren closes every communicator split from c.
func (c *Comm) closeChildren() {
	for _, ch := range c.childList(true) {
		ch.Close()
	}
}

// abortChildren aborts every communicator split from c.
func (c *Comm) abortChildren() {
	for _, ch := range c.childList(false) {
		ch.Abort()
	}
}

// closeSub is the part of Close that differs for a split communicator: its
// operations fail, its stream stops, and it leaves the endpoint (which the
// root communicator owns) open.
func (c *Comm) closeSub() {
	c.mux.FailComm(c.id, ErrClosed)
	c.closeQueue()
	c.bg.Wait()
	c.grp.reg.remove(c)
	p := c.grp.parent
	p.grp.mu.Lock()
	delete(p.grp.children, c)
	p.grp.mu.Unlock()
}
