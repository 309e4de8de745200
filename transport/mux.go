package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// ErrShortFrame reports a matched frame whose payload is shorter than the
// posted receive buffer. (A longer one is reported with ErrTooLarge.)
var ErrShortFrame = errors.New("transport: payload length is less than receive buffer")

// errCanceled completes a Recv removed by Mux.Cancel.
var errCanceled = fmt.Errorf("transport: recv cancelled: %w", context.Canceled)

// maxControlPayload bounds the payload of a KindControl frame read from a
// stream; control messages are small msgpack documents.
const maxControlPayload = 1 << 20

// Recv states. A Recv moves idle -> pending (Post) -> matched (a frame has
// been claimed for it and is being copied into Buf) -> done (Hdr and Err are
// set and a token is on done) -> idle (Wait consumed the token). Cancellation
// moves pending -> idle (Wait) or pending -> done (Cancel).
const (
	recvIdle uint32 = iota
	recvPending
	recvMatched
	recvDone
)

// Recv is a receive posted to a Mux. The caller owns it and may reuse it
// (change Key and Buf, Post it again) once it has completed, that is once
// Wait has returned. Post and Wait of one Recv must not run concurrently with
// each other; Cancel may run concurrently with Wait.
//
// The zero Recv is ready to use. A Recv must not be copied after its first
// Post.
type Recv struct {
	Key Key    // what to match (Src is the sender's rank)
	Buf []byte // destination: a matching frame's payload is written here
	Hdr Header // set on completion: the matched frame's header
	Err error  // set on completion

	done    chan struct{} // cap 1: one completion token; created on first Post
	state   atomic.Uint32 // recvIdle, ...; pending->matched changes under mux.mu
	watched atomic.Bool   // a Cancel waits (on mux.cond) for this matched Recv
	mux     *Mux          // the Mux of the last Post
	next    *Recv         // posted queue link, guarded by mux.mu
	filling *unexp        // the unexpected frame r waits for while it fills; guarded by mux.mu
}

// complete sets the result of r and hands it to Wait. h may be nil (a failure
// with no frame). The caller holds mux.mu, and r was pending and has been
// unlinked.
func (r *Recv) complete(h *Header, err error) {
	if h != nil {
		r.Hdr = *h
	}
	r.Err = err
	r.state.Store(recvDone)
	r.done <- struct{}{} // never blocks: at most one token is outstanding
}

// finish is complete for a matched r, called without mux.mu by the goroutine
// that owns the match; it wakes a Cancel waiting for r.
func (r *Recv) finish(h *Header, err error) {
	r.complete(h, err)
	// Pairs with Cancel: Cancel stores watched then loads state; finish
	// stores state then loads watched, so one of them sees the other.
	if r.watched.Load() {
		m := r.mux
		m.mu.Lock()
		m.cond.Broadcast()
		m.mu.Unlock()
	}
}

// fill copies a complete payload p of frame h into r.Buf and finishes r,
// or finishes r with a length error if the sizes differ.
func (r *Recv) fill(h *Header, p []byte) {
	if len(p) != len(r.Buf) {
		r.finish(h, lengthError(h, len(r.Buf)))
		return
	}
	copy(r.Buf, p)
	r.finish(h, nil)
}

func lengthError(h *Header, bufLen int) error {
	sentinel := ErrTooLarge
	if int(h.Len) < bufLen {
		sentinel = ErrShortFrame
	}
	return fmt.Errorf("recv from rank %d (comm %d seq %d tag %d): frame is %d bytes, buffer %d: %w",
		h.Src, h.Comm, h.Seq, h.Tag, h.Len, bufLen, sentinel)
}

// MismatchError reports that two ranks started different operations with the
// same (Comm, Seq): Local is the descriptor this rank passed to Mux.Expect
// (Src is this rank), Remote the header of the peer's frame (Src is the peer).
// The collective package maps the Op, DType and RedOp numbers to names.
type MismatchError struct {
	Local, Remote Header
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("transport: operation mismatch on comm %d seq %d: rank %d called %s but rank %d called %s",
		e.Local.Comm, e.Local.Seq, e.Remote.Src, describeOp(&e.Remote), e.Local.Src, describeOp(&e.Local))
}

func describeOp(h *Header) string {
	return fmt.Sprintf("op %d (count %d, dtype %d, redop %d, root %d, algo %d)",
		h.Op, h.Count, h.DType, h.RedOp, h.Root, h.Algo)
}

// sameOp reports whether a and b describe the same operation.
func sameOp(a, b *Header) bool {
	return a.Op == b.Op && a.DType == b.DType && a.RedOp == b.RedOp &&
		a.Algo == b.Algo && a.Root == b.Root && a.Count == b.Count
}

type commSeq struct {
	comm uint32
	seq  uint64
}

// early records the descriptors of KindColl frames buffered for an operation
// this rank has not started yet, so that Expect can check them.
type early struct {
	first    Header
	other    Header // a frame whose descriptor differs from first
	conflict bool   // other is set
}

type recvQueue struct{ head, tail *Recv }

// unexp is a frame that arrived before its receive was posted. Its payload
// is being read (ready false) or complete (ready true).
type unexp struct {
	hdr     Header
	chunks  []*[]byte // payload, in unexpChunk pieces from getBuf, added as it arrives
	ready   bool      // payload complete
	queued  bool      // linked in Mux.unexp
	dropped bool      // removed by a failure while filling; the filler frees it
	waiter  *Recv     // a Recv that claimed this frame while it was filling
	next    *unexp    // queue link, or free list link
}

// unexpChunk is the piece size of an unexpected payload. Buffers are taken
// a piece at a time as the payload arrives, so a frame's announced length
// (up to MaxPayload) costs memory only as its bytes actually come in, and a
// large payload wastes at most one piece's rounding, not half its size.
const unexpChunk = 1 << 20

// readFrom reads the payload from rd.
func (u *unexp) readFrom(rd io.Reader) error {
	for n := int(u.hdr.Len); n > 0; {
		k := min(n, unexpChunk)
		bp := getBuf(k)
		u.chunks = append(u.chunks, bp)
		if err := readFull(rd, (*bp)[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// readFull reads len(p) bytes of an announced payload: an end of stream
// before the last byte is io.ErrUnexpectedEOF, even before the first one.
func readFull(rd io.Reader, p []byte) error {
	_, err := io.ReadFull(rd, p)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// copyFrom stores payload p.
func (u *unexp) copyFrom(p []byte) {
	for len(p) > 0 {
		k := min(len(p), unexpChunk)
		bp := getBuf(k)
		u.chunks = append(u.chunks, bp)
		copy(*bp, p[:k])
		p = p[k:]
	}
}

// fillRecv copies the complete payload into r.Buf and finishes r, or
// finishes r with a length error.
func (u *unexp) fillRecv(r *Recv) {
	if int(u.hdr.Len) != len(r.Buf) {
		r.finish(&u.hdr, lengthError(&u.hdr, len(r.Buf)))
		return
	}
	dst := r.Buf
	for _, bp := range u.chunks {
		dst = dst[copy(dst, *bp):]
	}
	r.finish(&u.hdr, nil)
}

type unexpQueue struct{ head, tail *unexp }

// Mux matches arriving frames to posted receives by Key, for one endpoint.
// Every transport delivers into one: a frame whose receive is posted is
// copied (or read from its stream) straight into the receive's buffer; one
// that arrives first is kept as unexpected in a pooled buffer until a receive
// for its key is posted. Frames with equal keys match receives with that key
// in arrival and post order.
//
// All methods are safe for concurrent use by multiple goroutines; the one
// exception is a single Recv, whose Post and Wait belong to its owner.
//
// Memory: unexpected frames are kept until a receive takes them, the comm
// fails or the Mux fails. The Mux does not bound that memory; the protocol
// does: a rank sends a frame only for an operation its peer will start, so
// the unexpected memory held for a peer is at most the data of the
// operations that peer runs ahead of this rank.
//
// Steady state: Post, Deliver, DeliverFrom and Wait allocate nothing once the
// Mux's maps and free lists have grown to the working set (Wait never does).
type Mux struct {
	rank, size int

	control  atomic.Pointer[func(*Header, []byte)]
	poller   atomic.Pointer[func(*Recv)] // SetPoller (poll.go)
	mismatch atomic.Pointer[func(*MismatchError)]
	peerLost atomic.Pointer[func(peer int, err error)]
	closed   atomic.Bool // Fail was called; read without mu on the control path

	mu      sync.Mutex
	cond    sync.Cond // on mu: a matched Recv that a Cancel waits for has finished
	posted  map[Key]recvQueue
	unexp   map[Key]unexpQueue
	free    *unexp             // free list of unexp nodes
	err     error              // set by Fail
	peerErr []*PeerError       // per peer, set by FailPeer
	commErr map[uint32]error   // set by FailComm, cleared by ResetComm
	expects map[commSeq]Header // operations started locally (Expect)
	early   map[commSeq]early  // descriptors of buffered frames of ops not started
	// finished is the last operation each comm finished locally. A frame
	// for it, or for an older one, can only come from a rank that called
	// something else (a correct schedule's frames are all received before
	// the receiver finishes), so it is a mismatch.
	finished map[uint32]Header
	// fifo says frames from one peer arrive in the order it sent them
	// (SetFIFO). Then latest[comm][src], the KindColl frame with the highest
	// Seq seen from src, proves src has finished every earlier operation: a
	// receive from src for an earlier operation can never be satisfied,
	// which is a mismatch (src skipped an operation this rank is in).
	fifo   bool
	latest map[uint32][]Header

	nPosted int // receives in posted
	// collLow is at most the Seq of every KindColl receive in posted
	// (math.MaxUint64 when posted is empty; Post lowers it, and each walk
	// of noteLatestLocked makes it exact): noteLatestLocked walks posted
	// only for a frame with a higher Seq, which in the steady state (each
	// operation's receives posted, then its frames arriving) none has.
	collLow    uint64
	nUnexp     int   // complete frames in unexp
	unexpBytes int64 // their payload bytes

	// held[src] is the payload bytes of src's frames held as unexpected
	// (ready or still arriving). A delivery from src that finds more than
	// holdLimit held waits for room (see DeliverFrom), which pushes back on
	// a peer that runs ahead instead of buffering without bound.
	held      []int64
	holdLimit int64
	room      sync.Cond // on mu: held shrank, a receive was posted, or something failed
	roomWait  int       // deliveries waiting on room
}

// DefaultHoldLimit bounds the bytes of unexpected frames a Mux holds per
// source before deliveries from that source wait (SetHoldLimit).
const DefaultHoldLimit = 64 << 20

// MuxStats is a snapshot of a Mux's queues.
type MuxStats struct {
	Posted          int   // receives posted and not yet matched
	Unexpected      int   // frames fully arrived and not yet received
	UnexpectedBytes int64 // their payload bytes
}

// Stats returns a snapshot of the Mux's queues, for monitoring and tests.
func (m *Mux) Stats() MuxStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return MuxStats{Posted: m.nPosted, Unexpected: m.nUnexp, UnexpectedBytes: m.unexpBytes}
}

// Posted reports whether a receive for k is posted and waiting for its
// frame, and, for a KindColl key, whether this rank has started the
// operation (Expect) and so will post it. A transport that can hold a frame
// back cheaply (shared memory) uses it to wait briefly for the receive of a
// started operation, so that the payload is copied once, into the
// receive's buffer, instead of twice through an unexpected buffer.
func (m *Mux) Posted(k Key) (posted, started bool) {
	m.mu.Lock()
	_, posted = m.posted[k]
	if k.Kind == KindColl {
		_, started = m.expects[commSeq{k.Comm, k.Seq}]
	}
	m.mu.Unlock()
	return posted, started
}

// NewMux returns the Mux of rank in a fabric of size ranks.
func NewMux(rank, size int) *Mux {
	m := &Mux{
		rank:      rank,
		size:      size,
		posted:    make(map[Key]recvQueue),
		unexp:     make(map[Key]unexpQueue),
		peerErr:   make([]*PeerError, size),
		commErr:   make(map[uint32]error),
		expects:   make(map[commSeq]Header),
		early:     make(map[commSeq]early),
		finished:  make(map[uint32]Header),
		latest:    make(map[uint32][]Header),
		held:      make([]int64, size),
		holdLimit: DefaultHoldLimit,
		collLow:   math.MaxUint64,
	}
	m.cond.L = &m.mu
	m.room.L = &m.mu
	return m
}

// Rank returns the rank passed to NewMux.
func (m *Mux) Rank() int { return m.rank }

// Size returns the size passed to NewMux.
func (m *Mux) Size() int { return m.size }

// SetControlHandler sets the function that receives KindControl frames. fn is
// called on the delivering goroutine (a transport's reader) and must not
// block; payload is valid only during the call. Set it before traffic starts;
// control frames that arrive while none is set are dropped.
func (m *Mux) SetControlHandler(fn func(h *Header, payload []byte)) {
	m.control.Store(&fn)
}

// SetPeerLostHandler sets the function told, once per peer, that the link
// to peer failed for a reason other than this rank's Close or the peer's
// clean close (ErrClosed, ErrPeerClosed): a broken connection, a dead
// process, a peer silent past the heartbeat timeout. It is called by
// FailPeer, after the peer's receives have failed, on the failing
// transport's goroutine; it must not block.
func (m *Mux) SetPeerLostHandler(fn func(peer int, err error)) {
	m.peerLost.Store(&fn)
}

// SetMismatchHandler sets the function told about a detected operation
// mismatch. It is called once per comm failure caused by a mismatch, after
// the comm's receives have failed, on the goroutine that detected it (Expect
// or a transport's reader); it must not block.
func (m *Mux) SetMismatchHandler(fn func(*MismatchError)) {
	m.mismatch.Store(&fn)
}

// SetHoldLimit sets the per-source bound on unexpected bytes (0 = none).
// Call it before traffic starts.
func (m *Mux) SetHoldLimit(n int64) {
	m.mu.Lock()
	m.holdLimit = n
	m.mu.Unlock()
}

func (m *Mux) wakeRoomLocked() {
	if m.roomWait > 0 {
		m.room.Broadcast()
	}
}

// roomLocked reports whether a frame h may be held as unexpected now. One
// frame always fits when nothing of its source is held, so a single large
// message never waits for itself.
func (m *Mux) roomLocked(h *Header) bool {
	held := m.held[h.Src]
	return m.holdLimit <= 0 || held == 0 || held+int64(h.Len) <= m.holdLimit
}

// SetFIFO tells the Mux whether its transport delivers the frames of each
// peer in the order they were sent (inproc; tcp with one socket per peer).
// With FIFO delivery the Mux also detects a peer that skipped an operation
// this rank is waiting in. Call it before traffic starts.
func (m *Mux) SetFIFO(fifo bool) {
	m.mu.Lock()
	m.fifo = fifo
	m.mu.Unlock()
}

// skippedLocked reports the mismatch, if any, that a posted KindColl
// receive for k can never be satisfied because its source already sent a
// frame of a later operation.
func (m *Mux) skippedLocked(k Key) *MismatchError {
	if !m.fifo || k.Kind != KindColl {
		return nil
	}
	l := m.latest[k.Comm]
	if l == nil || l[k.Src].Seq <= k.Seq {
		return nil
	}
	local, ok := m.expects[commSeq{k.Comm, k.Seq}]
	if !ok {
		return nil
	}
	return &MismatchError{Local: local, Remote: l[k.Src]}
}

// noteLatestLocked records a KindColl frame and, with FIFO delivery, fails
// the comm if a receive posted from its source for an earlier operation is
// thereby known to be unsatisfiable.
func (m *Mux) noteLatestLocked(h *Header) *MismatchError {
	if !m.fifo {
		return nil
	}
	l := m.latest[h.Comm]
	if l == nil {
		l = make([]Header, m.size)
		m.latest[h.Comm] = l
	}
	if h.Seq <= l[h.Src].Seq {
		return nil
	}
	l[h.Src] = *h
	if m.collLow >= h.Seq {
		return nil // no receive posted for an earlier operation
	}
	low := uint64(math.MaxUint64)
	for k := range m.posted {
		if k.Kind != KindColl {
			continue
		}
		if k.Comm == h.Comm && k.Src == h.Src && k.Seq < h.Seq {
			if mm := m.skippedLocked(k); mm != nil && m.failCommLocked(h.Comm, mm) {
				return mm
			}
			return nil
		}
		low = min(low, k.Seq)
	}
	// The walk saw every posted receive: the bound is now exact, so that a
	// receive that stays posted (another comm's, one from a slow source)
	// does not keep it low for good.
	m.collLow = low
	return nil
}

// Post registers r. If a frame with r.Key is already buffered, it is copied
// into r.Buf and r completes at once; if the Mux, r's comm or r's peer has
// failed, r completes at once with that error (a failed peer's frames that
// had fully arrived before the failure are still delivered). Post returns an
// error only for misuse: an invalid Key (Kind not KindColl or KindP2P, Src
// out of range) or r already pending.
//
// The Mux writes r.Buf until r completes; the caller must not touch r or
// r.Buf until Wait returns.
func (m *Mux) Post(r *Recv) error {
	k := r.Key
	if k.Kind != KindColl && k.Kind != KindP2P {
		return fmt.Errorf("transport: post: kind %d cannot be received", k.Kind)
	}
	if k.Src < 0 || int(k.Src) >= m.size {
		return fmt.Errorf("transport: post: source rank %d out of range [0,%d)", k.Src, m.size)
	}
	switch r.state.Load() {
	case recvPending, recvMatched:
		return errors.New("transport: post: receive already pending")
	case recvDone:
		<-r.done // completed but never waited for; the token is (about to be) there
	}
	if r.done == nil {
		r.done = make(chan struct{}, 1)
	}
	r.mux = m
	r.Hdr = Header{}
	r.Err = nil

	m.mu.Lock()
	if m.err != nil {
		r.complete(nil, m.err)
		m.mu.Unlock()
		return nil
	}
	if err := m.commErr[k.Comm]; err != nil {
		r.complete(nil, err)
		m.mu.Unlock()
		return nil
	}
	if q, ok := m.unexp[k]; ok {
		u := m.popUnexpLocked(k, q)
		r.state.Store(recvMatched)
		if u.ready {
			m.nUnexp--
			m.unexpBytes -= int64(u.hdr.Len)
		} else {
			u.waiter = r // the filler finishes r
			r.filling = u
			m.mu.Unlock()
			return nil
		}
		m.mu.Unlock()
		u.fillRecv(r)
		m.mu.Lock()
		m.freeLocked(u)
		m.mu.Unlock()
		return nil
	}
	if pe := m.peerErr[k.Src]; pe != nil {
		r.complete(nil, pe)
		m.mu.Unlock()
		return nil
	}
	if mm := m.skippedLocked(k); mm != nil && m.failCommLocked(k.Comm, mm) {
		r.complete(nil, mm)
		m.mu.Unlock()
		m.notifyMismatch(mm)
		return nil
	}
	r.next = nil
	q := m.posted[k]
	if q.tail == nil {
		q.head = r
	} else {
		q.tail.next = r
	}
	q.tail = r
	m.posted[k] = q
	m.nPosted++
	if k.Kind == KindColl && k.Seq < m.collLow {
		m.collLow = k.Seq
	}
	r.state.Store(recvPending)
	m.wakeRoomLocked()
	m.mu.Unlock()
	return nil
}

// Wait blocks until r completes and returns r.Err, or until ctx is done. In
// the second case a still-pending r is removed from the Mux (a frame arriving
// later for its key is buffered as unexpected) and Wait returns an error
// wrapping context.Cause(ctx); if a frame was already being copied into r.Buf,
// Wait waits for that copy, which the sender's progress bounds, and returns
// its result. Once Wait returns, r may be reused. Wait on a Recv that has
// completed and been waited for returns its last Err again. Wait does not
// allocate unless ctx ends first.
func (m *Mux) Wait(ctx context.Context, r *Recv) error {
	if r.state.Load() == recvIdle {
		if r.done == nil || r.mux != m {
			return errors.New("transport: wait: receive was not posted to this mux")
		}
		return r.Err
	}
	if fn := m.poller.Load(); fn != nil && r.state.Load() == recvPending {
		(*fn)(r) // the transport reads on this goroutine for a while (poll.go)
	}
	// Mostly r is complete by now (the poller read its frame): a
	// non-blocking receive costs less than the two-way select below.
	select {
	case <-r.done:
		r.state.Store(recvIdle)
		return r.Err
	default:
	}
	select {
	case <-r.done:
		r.state.Store(recvIdle)
		return r.Err
	case <-ctx.Done():
	}
	m.mu.Lock()
	if m.withdrawLocked(r) {
		r.state.Store(recvIdle)
		m.mu.Unlock()
		r.Err = fmt.Errorf("recv from rank %d: %w", r.Key.Src, context.Cause(ctx))
		return r.Err
	}
	m.mu.Unlock()
	<-r.done
	r.state.Store(recvIdle)
	return r.Err
}

// withdrawLocked takes r back from the Mux if no payload is being written into
// r.Buf: a pending r is unlinked, and an r waiting for a buffered frame that
// is still arriving gives that frame back to the unexpected queue. It reports
// whether r was withdrawn; r's state is then for the caller to set.
func (m *Mux) withdrawLocked(r *Recv) bool {
	switch r.state.Load() {
	case recvPending:
		m.unlinkPostedLocked(r)
		return true
	case recvMatched:
		u := r.filling
		if u == nil {
			return false // the payload is being copied into r.Buf
		}
		r.filling = nil
		u.waiter = nil
		if m.err != nil || m.commErr[u.hdr.Comm] != nil {
			u.dropped = true // failed meanwhile: its filler frees it
		} else {
			m.pushUnexpFrontLocked(u)
		}
		return true
	}
	return false
}

// Cancel withdraws r. A pending r, or one waiting for a buffered frame that is
// still arriving, completes with an error wrapping context.Canceled. If the
// payload of a matched frame is being copied into r.Buf, Cancel waits for the
// copy (the sender's progress bounds it) and r completes normally. Either way,
// once Cancel returns the Mux no longer writes r.Buf, and r is completed: a
// later Wait returns its result, and Post may reuse it. Cancel of a completed
// or never-posted r does nothing. Cancel may run concurrently with Wait.
func (m *Mux) Cancel(r *Recv) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r.mux != m {
		return
	}
	if m.withdrawLocked(r) {
		r.complete(nil, errCanceled)
		return
	}
	if r.state.Load() != recvMatched {
		return
	}
	r.watched.Store(true)
	for r.state.Load() == recvMatched {
		m.cond.Wait()
	}
	r.watched.Store(false)
}

// Deliver delivers a frame whose payload is in memory: it is copied straight
// into the matching posted receive's buffer, or into a pooled buffer kept as
// unexpected. len(payload) must equal h.Len. Deliver does not retain h or
// payload. A frame with an invalid Kind or Src is dropped.
func (m *Mux) Deliver(h *Header, payload []byte) {
	if h.Kind == KindControl {
		m.deliverControl(h, payload)
		return
	}
	if h.Kind == KindHeartbeat {
		return
	}
	if !m.validData(h) || len(payload) != int(h.Len) {
		return
	}
	m.mu.Lock()
	ok, expected, mm := m.admitLocked(h)
	if !ok {
		m.mu.Unlock()
		m.notifyMismatch(mm)
		return
	}
	if r := m.popPostedLocked(h.Key()); r != nil {
		m.mu.Unlock()
		r.fill(h, payload)
		return
	}
	u := m.newUnexpLocked(h, expected)
	m.mu.Unlock()
	u.copyFrom(payload)
	m.finishFill(u, nil)
}

// DeliverCtx is Deliver for a sender that can wait: when the frame's
// source already has more than the hold limit buffered here (it runs ahead
// of this rank), DeliverCtx waits until the receive is posted or room is
// made, checking ctx every holdPoll; it returns ctx's error (the frame not
// delivered) if ctx ends first, and ErrClosed if the Mux fails. Deliver
// itself never waits (a rank sending to itself must not block on itself).
func (m *Mux) DeliverCtx(ctx context.Context, h *Header, payload []byte) error {
	if h.Kind == KindControl || !m.validData(h) || len(payload) != int(h.Len) || m.holdLimit <= 0 {
		m.Deliver(h, payload)
		return nil
	}
	m.mu.Lock()
	var poll *time.Timer
	for {
		if m.err != nil || m.commErr[h.Comm] != nil || m.peerErr[h.Src] != nil {
			break // Deliver decides what to do with it
		}
		if _, posted := m.posted[h.Key()]; posted || m.roomLocked(h) {
			break
		}
		if err := ctx.Err(); err != nil {
			m.mu.Unlock()
			if poll != nil {
				poll.Stop()
			}
			return err
		}
		if poll == nil {
			poll = time.AfterFunc(holdPoll, func() {
				m.mu.Lock()
				m.room.Broadcast()
				m.mu.Unlock()
			})
		} else {
			poll.Reset(holdPoll)
		}
		m.roomWait++
		m.room.Wait()
		m.roomWait--
	}
	m.mu.Unlock()
	if poll != nil {
		poll.Stop()
	}
	m.Deliver(h, payload)
	return nil
}

// holdPoll is how often a sender waiting for room checks its context.
const holdPoll = 100 * time.Millisecond

// DeliverFrom delivers a frame whose payload follows on a stream: it reads
// exactly h.Len bytes from rd straight into the matching posted receive's
// buffer, or into a pooled buffer kept as unexpected. A receive whose buffer
// length differs from h.Len completes with a length error and the payload is
// read and dropped. A non-nil error means the stream is broken (a read
// failed, or h is invalid: a protocol error); the caller must fail the peer.
// DeliverFrom does not retain h or rd. Calls for one stream must be
// sequential; calls for different streams may run concurrently.
func (m *Mux) DeliverFrom(h *Header, rd io.Reader) error {
	if h.Len > MaxPayload || !h.Kind.valid() || h.Src < 0 || int(h.Src) >= m.size {
		return fmt.Errorf("%w: frame kind %d from rank %d, length %d", ErrProtocol, h.Kind, h.Src, h.Len)
	}
	if h.Kind == KindControl {
		return m.deliverControlFrom(h, rd)
	}
	if h.Kind == KindHeartbeat {
		if h.Len != 0 {
			return fmt.Errorf("%w: heartbeat frame from rank %d carries %d bytes", ErrProtocol, h.Src, h.Len)
		}
		return nil
	}
	n := int(h.Len)
	m.mu.Lock()
	var (
		ok, expected bool
		mm           *MismatchError
		r            *Recv
	)
	for {
		ok, expected, mm = m.admitLocked(h)
		if !ok {
			m.mu.Unlock()
			m.notifyMismatch(mm)
			return discard(rd, n)
		}
		if pe := m.peerErr[h.Src]; pe != nil {
			m.mu.Unlock()
			return pe // the link is being torn down
		}
		if r = m.popPostedLocked(h.Key()); r != nil || m.roomLocked(h) {
			break
		}
		// src has run ahead by more than holdLimit: stop reading its
		// stream (the sender's writes then block) until the application
		// posts this frame's receive or consumes what is held.
		m.roomWait++
		m.room.Wait()
		m.roomWait--
	}
	if r != nil {
		m.mu.Unlock()
		if n != len(r.Buf) {
			err := discard(rd, n)
			r.finish(h, lengthError(h, len(r.Buf)))
			return err
		}
		if err := readFull(rd, r.Buf); err != nil {
			r.finish(h, &PeerError{Peer: int(h.Src), Op: "recv", Err: err})
			return err
		}
		r.finish(h, nil)
		return nil
	}
	u := m.newUnexpLocked(h, expected)
	m.mu.Unlock()
	err := u.readFrom(rd)
	m.finishFill(u, err)
	return err
}

func (m *Mux) validData(h *Header) bool {
	return (h.Kind == KindColl || h.Kind == KindP2P) && h.Src >= 0 && int(h.Src) < m.size
}

// admitLocked decides the fate of an arriving data frame: ok false means drop
// it (the Mux or the comm has failed, or the frame reveals a mismatch, in
// which case mm is set and the caller must call notifyMismatch after
// unlocking). expected reports whether the frame's operation was started
// locally (KindColl only).
func (m *Mux) admitLocked(h *Header) (ok, expected bool, mm *MismatchError) {
	if m.err != nil {
		return false, false, nil
	}
	if len(m.commErr) > 0 && m.commErr[h.Comm] != nil {
		return false, false, nil
	}
	if h.Kind != KindColl {
		return true, false, nil
	}
	if mm := m.noteLatestLocked(h); mm != nil {
		return false, false, mm
	}
	local, expected := m.expects[commSeq{h.Comm, h.Seq}]
	if !expected {
		if f, done := m.finished[h.Comm]; done && h.Seq <= f.Seq {
			mm = &MismatchError{Local: f, Remote: *h}
			if !m.failCommLocked(h.Comm, mm) {
				mm = nil
			}
			return false, false, mm
		}
	}
	if expected && !sameOp(&local, h) {
		mm = &MismatchError{Local: local, Remote: *h}
		if !m.failCommLocked(h.Comm, mm) {
			mm = nil
		}
		return false, true, mm
	}
	return true, expected, nil
}

func (m *Mux) notifyMismatch(mm *MismatchError) {
	if mm == nil {
		return
	}
	if fn := m.mismatch.Load(); fn != nil && *fn != nil {
		(*fn)(mm)
	}
}

// popPostedLocked removes and returns the first receive posted for k, marked
// matched, or nil.
func (m *Mux) popPostedLocked(k Key) *Recv {
	q, ok := m.posted[k]
	if !ok {
		return nil
	}
	r := q.head
	q.head = r.next
	r.next = nil
	if q.head == nil {
		delete(m.posted, k)
	} else {
		m.posted[k] = q
	}
	m.unpostedLocked()
	r.state.Store(recvMatched)
	return r
}

// unpostedLocked counts one receive out of posted.
func (m *Mux) unpostedLocked() {
	m.nPosted--
	if m.nPosted == 0 {
		m.collLow = math.MaxUint64
	}
}

func (m *Mux) unlinkPostedLocked(r *Recv) {
	q, ok := m.posted[r.Key]
	if !ok {
		return
	}
	var prev *Recv
	for c := q.head; c != nil; prev, c = c, c.next {
		if c != r {
			continue
		}
		if prev == nil {
			q.head = c.next
		} else {
			prev.next = c.next
		}
		if q.tail == c {
			q.tail = prev
		}
		c.next = nil
		m.unpostedLocked()
		break
	}
	if q.head == nil {
		delete(m.posted, r.Key)
	} else {
		m.posted[r.Key] = q
	}
}

// newUnexpLocked queues a node for frame h, with a buffer for its payload.
func (m *Mux) newUnexpLocked(h *Header, expected bool) *unexp {
	u := m.free
	if u != nil {
		m.free = u.next
		u.next = nil
	} else {
		u = new(unexp)
	}
	u.hdr = *h
	u.queued = true
	m.held[h.Src] += int64(h.Len)
	k := h.Key()
	q := m.unexp[k]
	if q.tail == nil {
		q.head = u
	} else {
		q.tail.next = u
	}
	q.tail = u
	m.unexp[k] = q
	if h.Kind == KindColl && !expected {
		m.noteEarlyLocked(h)
	}
	return u
}

// popUnexpLocked removes the head of queue q (for key k).
func (m *Mux) popUnexpLocked(k Key, q unexpQueue) *unexp {
	u := q.head
	q.head = u.next
	u.next = nil
	u.queued = false
	if q.head == nil {
		delete(m.unexp, k)
	} else {
		m.unexp[k] = q
	}
	return u
}

// pushUnexpFrontLocked puts back a node that a withdrawn Recv had claimed.
func (m *Mux) pushUnexpFrontLocked(u *unexp) {
	k := u.hdr.Key()
	q := m.unexp[k]
	u.next = q.head
	q.head = u
	if q.tail == nil {
		q.tail = u
	}
	m.unexp[k] = q
	u.queued = true
}

func (m *Mux) unlinkUnexpLocked(u *unexp) {
	k := u.hdr.Key()
	q, ok := m.unexp[k]
	if !ok {
		return
	}
	var prev *unexp
	for c := q.head; c != nil; prev, c = c, c.next {
		if c != u {
			continue
		}
		if prev == nil {
			q.head = c.next
		} else {
			prev.next = c.next
		}
		if q.tail == c {
			q.tail = prev
		}
		c.next = nil
		break
	}
	u.queued = false
	if q.head == nil {
		delete(m.unexp, k)
	} else {
		m.unexp[k] = q
	}
}

// dropUnexpLocked discards a queued node (on a failure). A node still
// filling is marked and freed by its filler.
func (m *Mux) dropUnexpLocked(u *unexp) {
	u.queued = false
	if u.ready {
		m.nUnexp--
		m.unexpBytes -= int64(u.hdr.Len)
		m.freeLocked(u)
		return
	}
	u.dropped = true
	u.next = nil
}

func (m *Mux) freeLocked(u *unexp) {
	if u.hdr.Kind != 0 {
		m.held[u.hdr.Src] -= int64(u.hdr.Len)
		m.wakeRoomLocked()
	}
	for i, bp := range u.chunks {
		putBuf(bp)
		u.chunks[i] = nil
	}
	chunks := u.chunks[:0]
	*u = unexp{next: m.free, chunks: chunks}
	m.free = u
}

// finishFill is called by the goroutine that filled u's payload (err is the
// read error, if any): it hands the frame to a Recv that claimed it while it
// was filling, marks it ready, or discards it.
func (m *Mux) finishFill(u *unexp, err error) {
	m.mu.Lock()
	switch {
	case u.dropped:
		m.freeLocked(u)
		m.mu.Unlock()
	case err != nil:
		w, h := u.waiter, u.hdr
		if u.queued {
			m.unlinkUnexpLocked(u)
		}
		m.freeLocked(u)
		if w != nil {
			w.filling = nil
		}
		m.mu.Unlock()
		if w != nil {
			w.finish(&h, &PeerError{Peer: int(h.Src), Op: "recv", Err: err})
		}
	case u.waiter != nil:
		w := u.waiter
		w.filling = nil
		u.waiter = nil
		m.mu.Unlock()
		u.fillRecv(w)
		m.mu.Lock()
		m.freeLocked(u)
		m.mu.Unlock()
	default:
		u.ready = true
		m.nUnexp++
		m.unexpBytes += int64(u.hdr.Len)
		m.mu.Unlock()
	}
}

func (m *Mux) noteEarlyLocked(h *Header) {
	cs := commSeq{h.Comm, h.Seq}
	e, ok := m.early[cs]
	switch {
	case !ok:
		m.early[cs] = early{first: *h}
	case !e.conflict && !sameOp(&e.first, h):
		e.other, e.conflict = *h, true
		m.early[cs] = e
	}
}

func (m *Mux) deliverControl(h *Header, payload []byte) {
	if m.closed.Load() {
		return
	}
	if fn := m.control.Load(); fn != nil && *fn != nil {
		(*fn)(h, payload)
	}
}

func (m *Mux) deliverControlFrom(h *Header, rd io.Reader) error {
	if h.Len > maxControlPayload {
		return fmt.Errorf("%w: control frame of %d bytes from rank %d exceeds %d", ErrProtocol, h.Len, h.Src, maxControlPayload)
	}
	if h.Len == 0 {
		m.deliverControl(h, nil)
		return nil
	}
	bp := getBuf(int(h.Len))
	defer putBuf(bp)
	p := (*bp)[:h.Len]
	if err := readFull(rd, p); err != nil {
		return err
	}
	m.deliverControl(h, p)
	return nil
}

// discard reads and drops n bytes from rd.
func discard(rd io.Reader, n int) error {
	if n == 0 {
		return nil
	}
	const chunk = 64 << 10
	bp := getBuf(min(n, chunk))
	defer putBuf(bp)
	buf := *bp
	for n > 0 {
		k := min(n, len(buf))
		if err := readFull(rd, buf[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// FailPeer makes every pending receive from peer, and every later one that
// no already-arrived frame satisfies, complete with a *PeerError{Peer: peer,
// Op: "recv", Err: err}. The first failure of a peer wins; unless err is
// ErrClosed or ErrPeerClosed, it is then passed to the peer-lost handler.
func (m *Mux) FailPeer(peer int, err error) {
	if peer < 0 || peer >= m.size {
		return
	}
	m.mu.Lock()
	if m.peerErr[peer] != nil {
		m.mu.Unlock()
		return
	}
	pe := &PeerError{Peer: peer, Op: "recv", Err: err}
	m.peerErr[peer] = pe
	m.wakeRoomLocked()
	for k, q := range m.posted {
		if int(k.Src) != peer {
			continue
		}
		m.completeAllLocked(q.head, pe)
		delete(m.posted, k)
	}
	closed := m.err != nil
	m.mu.Unlock()
	if closed || errors.Is(err, ErrClosed) || errors.Is(err, ErrPeerClosed) {
		return
	}
	if fn := m.peerLost.Load(); fn != nil && *fn != nil {
		(*fn)(peer, err)
	}
}

// PeerErr returns the failure FailPeer recorded for peer, or nil while
// the link to peer is healthy.
func (m *Mux) PeerErr(peer int) error {
	if peer < 0 || peer >= m.size {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if pe := m.peerErr[peer]; pe != nil {
		return pe
	}
	return nil
}

// FailComm makes every pending and every later KindColl or KindP2P receive on
// comm complete with err, drops the frames buffered for comm and drops frames
// for comm that arrive until ResetComm(comm). It is how Abort and a detected
// mismatch stop a communicator. The first failure of a comm wins.
func (m *Mux) FailComm(comm uint32, err error) {
	m.mu.Lock()
	m.failCommLocked(comm, err)
	m.mu.Unlock()
}

// failCommLocked reports whether it failed comm (false: already failed).
func (m *Mux) failCommLocked(comm uint32, err error) bool {
	if m.commErr[comm] != nil {
		return false
	}
	m.commErr[comm] = err
	// Nothing reads a failed comm's sequence tracking (ResetComm starts it
	// over), so a closed sub-communicator leaves only its commErr entry.
	delete(m.latest, comm)
	delete(m.finished, comm)
	m.wakeRoomLocked()
	for k, q := range m.posted {
		if k.Comm == comm {
			m.completeAllLocked(q.head, err)
			delete(m.posted, k)
		}
	}
	for k, q := range m.unexp {
		if k.Comm != comm {
			continue
		}
		for u := q.head; u != nil; {
			next := u.next
			m.dropUnexpLocked(u)
			u = next
		}
		delete(m.unexp, k)
	}
	for cs := range m.expects {
		if cs.comm == comm {
			delete(m.expects, cs)
		}
	}
	for cs := range m.early {
		if cs.comm == comm {
			delete(m.early, cs)
		}
	}
	return true
}

// ResetComm clears a failure set by FailComm (or a mismatch) on comm: later
// receives and frames on comm are handled normally again, and its
// operation sequence may start over.
func (m *Mux) ResetComm(comm uint32) {
	m.mu.Lock()
	delete(m.commErr, comm)
	delete(m.finished, comm)
	delete(m.latest, comm)
	m.mu.Unlock()
}

// Fail makes every pending and every later receive complete with err and
// drops every buffered and every later frame, control frames included. It is
// called when the endpoint is closed or aborted. The first failure wins.
func (m *Mux) Fail(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return
	}
	m.err = err
	m.closed.Store(true)
	m.wakeRoomLocked()
	for k, q := range m.posted {
		m.completeAllLocked(q.head, err)
		delete(m.posted, k)
	}
	for k, q := range m.unexp {
		for u := q.head; u != nil; {
			next := u.next
			m.dropUnexpLocked(u)
			u = next
		}
		delete(m.unexp, k)
	}
	clear(m.expects)
	clear(m.early)
}

func (m *Mux) completeAllLocked(r *Recv, err error) {
	for r != nil {
		next := r.next
		r.next = nil
		r.complete(nil, err)
		m.unpostedLocked()
		r = next
	}
}

// Expect records that this rank has started operation (h.Comm, h.Seq) with
// the descriptor in h (Op, DType, RedOp, Algo, Root, Count; h.Src is set to
// this rank). A KindColl frame for the same (Comm, Seq) whose descriptor
// differs, whether buffered before this call or arriving later, fails comm
// with a *MismatchError (see FailComm) and calls the mismatch handler. Call
// Unexpect when the operation has finished.
func (m *Mux) Expect(h Header) {
	h.Src = int32(m.rank)
	cs := commSeq{h.Comm, h.Seq}
	var mm *MismatchError
	m.mu.Lock()
	if m.err != nil || m.commErr[h.Comm] != nil {
		m.mu.Unlock()
		return
	}
	m.expects[cs] = h
	if e, ok := m.early[cs]; ok {
		delete(m.early, cs)
		switch {
		case !sameOp(&h, &e.first):
			mm = &MismatchError{Local: h, Remote: e.first}
		case e.conflict:
			mm = &MismatchError{Local: h, Remote: e.other}
		}
		if mm != nil && !m.failCommLocked(h.Comm, mm) {
			mm = nil
		}
	}
	m.mu.Unlock()
	m.notifyMismatch(mm)
}

// Unexpect records that operation (comm, seq) has finished on this rank.
func (m *Mux) Unexpect(comm uint32, seq uint64) {
	cs := commSeq{comm, seq}
	m.mu.Lock()
	if h, ok := m.expects[cs]; ok {
		if f, done := m.finished[comm]; !done || f.Seq < seq {
			m.finished[comm] = h
		}
	}
	delete(m.expects, cs)
	delete(m.early, cs)
	m.mu.Unlock()
}
