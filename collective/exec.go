package collective

import (
	"context"
	"errors"
	"fmt"

	"github.com/kizuna-hpc/kizuna/collective/reduce"
	"github.com/kizuna-hpc/kizuna/collective/schedule"
	"github.com/kizuna-hpc/kizuna/transport"
)

// plan is a schedule plus what the executor derives from it once, so that a
// repeated call costs no allocation.
type plan struct {
	s *schedule.Schedule
	// stage[i] is the staging offset (elements) of Recvs[j] of step i within
	// that step's half of the staging buffer, or -1 for a receive that lands
	// directly in its region.
	stage [][]int
	// stageElems is the largest per-step staging need, in elements.
	stageElems int
	// early[i] says step i's receives may be posted while step i-1 is still
	// running (no copies in step i, and its direct receives overlap nothing
	// that step i-1 touches).
	early []bool
	// maxRecvs is the largest number of receives in one step.
	maxRecvs int
	// fuse[i][j] is the index in step i's Copies of the copy that fills
	// Recvs[j]'s region just before the receive is reduced into it, when
	// the executor instead receives straight into the region and then
	// reduces the copy's source into it (fusable), or -1. skip[i][k] says
	// step i's Copies[k] is done that way.
	fuse [][]int
	skip [][]bool
}

// newPlan derives the executor's plan from s, for an in-place call or not.
func newPlan(s *schedule.Schedule, inPlace bool) *plan {
	p := &plan{s: s, stage: make([][]int, len(s.Steps)), early: make([]bool, len(s.Steps)),
		fuse: make([][]int, len(s.Steps)), skip: make([][]bool, len(s.Steps))}
	for i := range s.Steps {
		st := &s.Steps[i]
		p.stage[i] = make([]int, len(st.Recvs))
		p.fuse[i] = make([]int, len(st.Recvs))
		p.skip[i] = make([]bool, len(st.Copies))
		off := 0
		for j, r := range st.Recvs {
			p.fuse[i][j] = -1
			if r.Reduce {
				if k := fusable(st, j, inPlace); k >= 0 {
					p.fuse[i][j], p.skip[i][k] = k, true
				}
			}
			if r.Reduce && p.fuse[i][j] < 0 {
				p.stage[i][j] = off
				off += r.Region.N
			} else {
				p.stage[i][j] = -1
			}
		}
		p.stageElems = max(p.stageElems, off)
		p.maxRecvs = max(p.maxRecvs, len(st.Recvs))
		if i > 0 && len(st.Copies) == 0 {
			p.early[i] = !directOverlaps(st, &s.Steps[i-1])
		}
	}
	return p
}

// fusable returns the index of the copy in st that fills the region of
// st.Recvs[j] (a reducing receive) before the reduction, if the executor
// may skip that copy, receive straight into the region and then reduce the
// copy's source into it; else -1. That computes received op source where
// the schedule says source op received: the same value, since every
// reduction is commutative element by element (the property recursive
// doubling's partners already rely on), with one pass over the region
// fewer (the copy) and no staging buffer. It needs the source to stay as
// it was until the reduction (nothing else in the step writes it) and the
// region to be touched by nothing else in the step.
func fusable(st *schedule.Step, j int, inPlace bool) int {
	x := st.Recvs[j]
	for k, c := range st.Copies {
		if c.Dst != x.Region || c.Src.N != x.Region.N || memOverlap(c.Src, x.Region, inPlace) {
			continue
		}
		for k2, c2 := range st.Copies {
			if k2 != k && (memOverlap(c2.Dst, c.Src, inPlace) || memOverlap(c2.Dst, x.Region, inPlace) || memOverlap(c2.Src, x.Region, inPlace)) {
				return -1
			}
		}
		for j2, y := range st.Recvs {
			if memOverlap(y.Region, c.Src, inPlace) || j2 != j && memOverlap(y.Region, x.Region, inPlace) {
				return -1
			}
		}
		return k
	}
	return -1
}

// memOverlap reports whether regions a and b may share memory: In and
// Out are the same memory in an in-place call and distinct otherwise
// (partly overlapping buffers are refused before a call starts); Scratch
// is the executor's own.
func memOverlap(a, b schedule.Region, inPlace bool) bool {
	if a.N == 0 || b.N == 0 {
		return false
	}
	if a.Buf != b.Buf {
		return inPlace && a.Buf != schedule.Scratch && b.Buf != schedule.Scratch
	}
	return a.Off < b.Off+b.N && b.Off < a.Off+a.N
}

// directOverlaps reports whether a direct (non-reducing) receive of next
// overlaps any region that prev reads or writes, taking In and Out as one
// memory (conservatively, whether or not the call is in place).
func directOverlaps(next, prev *schedule.Step) bool {
	for _, r := range next.Recvs {
		if r.Reduce || r.Region.N == 0 {
			continue
		}
		for _, x := range prev.Sends {
			if memOverlap(r.Region, x.Region, true) {
				return true
			}
		}
		for _, x := range prev.Recvs {
			if memOverlap(r.Region, x.Region, true) {
				return true
			}
		}
		for _, x := range prev.Copies {
			if memOverlap(r.Region, x.Src, true) || memOverlap(r.Region, x.Dst, true) {
				return true
			}
		}
	}
	return false
}

// executor holds the memory one communicator reuses across operations. It
// is guarded by Comm.mu.
type executor struct {
	scratch []byte
	staging []byte // two halves: even steps use the first, odd steps the second
	recvs   [2][]*transport.Recv
	hdr     transport.Header // header of the frame being sent; reused
}

// call is one collective operation being executed.
type call struct {
	coll    schedule.Coll
	dt      reduce.DType
	op      reduce.Op
	in, out []byte
	count   int
	root    int
	inPlace bool
	algo    schedule.Algo
}

// buf resolves a schedule region to memory.
func (e *executor) buf(cl *call, es int, r schedule.Region) []byte {
	var b []byte
	switch r.Buf {
	case schedule.In:
		b = cl.in
	case schedule.Out:
		b = cl.out
	default:
		b = e.scratch
	}
	return b[r.Off*es : (r.Off+r.N)*es]
}

func grow(b []byte, n int) []byte {
	if cap(b) >= n {
		return b[:n]
	}
	return make([]byte, n)
}

func (e *executor) prepare(p *plan, es int) {
	e.scratch = grow(e.scratch, p.s.Scratch*es)
	e.staging = grow(e.staging, 2*p.stageElems*es)
	for h := range e.recvs {
		for len(e.recvs[h]) < p.maxRecvs {
			e.recvs[h] = append(e.recvs[h], new(transport.Recv))
		}
	}
}

// run executes plan p for cl on communicator c. c.mu is held.
func (c *Comm) run(ctx context.Context, p *plan, cl *call, seq uint64) error {
	e := &c.exec
	es := cl.dt.Size()
	e.prepare(p, es)
	half := p.stageElems * es

	desc := transport.Header{
		Kind: transport.KindColl, Op: uint8(cl.coll), DType: uint8(cl.dt), RedOp: uint8(cl.op),
		Algo: uint8(cl.algo), Comm: c.id, Root: int32(cl.root), Seq: seq, Count: int64(cl.count),
	}
	c.mux.Expect(desc)
	defer c.mux.Unexpect(c.id, seq)

	steps := p.s.Steps
	posted := -1 // highest step whose receives are posted
	post := func(i int) error {
		st := &steps[i]
		h := i & 1
		stage := e.staging[h*half : (h+1)*half]
		for j, x := range st.Recvs {
			r := e.recvs[h][j]
			r.Key = transport.Key{Kind: transport.KindColl, Comm: c.id, Src: int32(c.peers[x.Peer]), Tag: x.Tag, Seq: seq}
			if off := p.stage[i][j]; off >= 0 {
				r.Buf = stage[off*es : (off+x.Region.N)*es]
			} else {
				r.Buf = e.buf(cl, es, x.Region)
			}
			if err := c.mux.Post(r); err != nil {
				// Cancel what this step already posted.
				for k := 0; k < j; k++ {
					c.mux.Cancel(e.recvs[h][k])
				}
				return err
			}
		}
		posted = i
		return nil
	}
	cancelFrom := func(i int) {
		for s := i; s <= posted; s++ {
			for j := range steps[s].Recvs {
				c.mux.Cancel(e.recvs[s&1][j])
			}
		}
	}

	for i := range steps {
		st := &steps[i]
		c.obs.step(i)
		for k, cp := range st.Copies {
			if !p.skip[i][k] { // a fused receive does it (fusable)
				copy(e.buf(cl, es, cp.Dst), e.buf(cl, es, cp.Src))
			}
		}
		if posted < i {
			if err := post(i); err != nil {
				return c.stepError(ctx, cl, seq, -1, err)
			}
		}
		for _, x := range st.Sends {
			e.hdr = desc
			e.hdr.Tag = x.Tag
			b := e.buf(cl, es, x.Region)
			c.seal(&e.hdr, b) // checksum.go
			c.obs.sending(x.Peer)
			if err := c.ep.Send(ctx, c.peers[x.Peer], &e.hdr, b); err != nil {
				cancelFrom(i)
				return c.stepError(ctx, cl, seq, x.Peer, err)
			}
			c.obs.sent(x.Peer, len(b))
		}
		if i+1 < len(steps) && p.early[i+1] {
			if err := post(i + 1); err != nil {
				cancelFrom(i)
				return c.stepError(ctx, cl, seq, -1, err)
			}
		}
		h := i & 1
		for j, x := range st.Recvs {
			r := e.recvs[h][j]
			c.obs.receiving(x.Peer)
			if err := c.mux.Wait(ctx, r); err != nil {
				cancelFrom(i)
				return c.stepError(ctx, cl, seq, x.Peer, err)
			}
			if c.checksum || r.Hdr.Flags != 0 {
				if err := c.verify(&r.Hdr, r.Buf, x.Peer); err != nil { // checksum.go
					cancelFrom(i)
					return c.stepError(ctx, cl, seq, x.Peer, err)
				}
			}
			c.obs.received(x.Peer, len(r.Buf))
			if k := p.fuse[i][j]; k >= 0 {
				// Received straight into the region: reduce the skipped
				// copy's source into it.
				reduce.Apply(cl.op, cl.dt, r.Buf, e.buf(cl, es, st.Copies[k].Src))
			} else if x.Reduce {
				reduce.Apply(cl.op, cl.dt, e.buf(cl, es, x.Region), r.Buf)
			}
		}
	}
	return nil
}

// stepError turns a failure inside an operation into the error the caller
// sees, breaks the communicator and tells the other ranks.
func (c *Comm) stepError(ctx context.Context, cl *call, seq uint64, peer int, err error) error {
	var (
		me *transport.MismatchError
		pe *transport.PeerError
		re *RemoteError
	)
	local := ctx.Err() != nil && !errors.As(err, &re) // the caller's context (or our own timeout/abort/close) ended it
	if !local && re == nil && errors.As(err, &pe) && !errors.Is(err, transport.ErrSilent) {
		// The peer may have closed its links or exited right after
		// failing for a reason of its own: report its notice, not the
		// broken link (heartbeat.go).
		if n := c.awaitNotice(noticeGrace); n != nil {
			err, re, pe = n, n, nil
			peer = n.Lost
		}
	}
	switch {
	case errors.As(err, &me):
		err = c.mismatchError(me)
	case local:
		if cerr := ctx.Err(); !errors.Is(err, cerr) {
			err = fmt.Errorf("%w: %w", cerr, err)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			peer = -1 // nobody else is to blame for a cancelled call
		}
	case errors.As(err, &pe):
		peer = c.commRank(pe.Peer)
	}
	// An error that another rank announced, or our own close/abort, is
	// already known; anything else is news to the other ranks.
	first := c.setBroken(err)
	if first && re == nil && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrAborted) {
		lost := -1
		if pe != nil && !local {
			lost = peer
		}
		var cause error
		if errors.Is(err, ErrMismatch) {
			cause = ErrMismatch
		}
		c.mux.FailComm(c.id, err)
		notice := &RemoteError{Origin: c.rank, Lost: lost, Reason: fmt.Sprintf("%s #%d on rank %d: %v", cl.coll, seq, c.rank, err), cause: cause}
		c.noteFailure(notice)
		c.announce(notice)
	} else if n := c.failureNotice(); !first && n != nil && n.Origin == c.rank && !errors.Is(err, ErrClosed) {
		// This rank found the failure on a transport goroutine, which
		// announces it in the background: make sure the notice is out
		// before the caller sees the error and perhaps exits.
		c.announce(n)
	}
	if errors.Is(err, context.DeadlineExceeded) && peer >= 0 {
		err = fmt.Errorf("no data from rank %d within the timeout: %w", peer, err)
	}
	return &OpError{Op: cl.coll.String(), Seq: seq, Rank: c.rank, Peer: peer, Err: err}
}

// release drops every reference to the caller's buffers once a call
// returns, so that the communicator retains none of them. c.mu is held.
func (c *Comm) release() {
	c.cur = call{}
	c.opctx = opContext{}
	for h := range c.exec.recvs {
		for _, r := range c.exec.recvs[h] {
			r.Buf = nil
		}
	}
}
