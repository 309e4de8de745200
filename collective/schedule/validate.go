package schedule

import (
	"fmt"
	"math/bits"
)

// msgKey names one message of an operation: sender, receiver (16 bits
// each) and tag, packed so that maps of them take the fast path.
type msgKey uint64

// maxValidateSize bounds the world size Validate and Simulate accept.
const maxValidateSize = 1 << 16

func key(src, dst int, tag uint32) msgKey {
	return msgKey(uint64(src)<<48 | uint64(dst)<<32 | uint64(tag))
}

func sendKey(r int, x Xfer) msgKey { return key(r, x.Peer, x.Tag) }
func recvKey(r int, x Xfer) msgKey { return key(x.Peer, r, x.Tag) }

func (k msgKey) src() int    { return int(k >> 48) }
func (k msgKey) dst() int    { return int(k >> 32 & 0xffff) }
func (k msgKey) tag() uint32 { return uint32(k) }

// Validate checks that scheds[i], built for params[i], are the schedules of
// all ranks of one call and can run together under the Step semantics:
//
//   - params describe one call: same Coll, Algo, Size, Count, Root,
//     ChunkElems and Layout (by content), params[i].Rank == i (InPlace may
//     differ between ranks);
//   - every region lies inside its buffer (In and Out per the package's
//     buffer conventions, Scratch per Schedule.Scratch); In is written only
//     when it aliases Out (InPlace); a non-root Broadcast never reads In;
//   - within a step, no Send overlaps a Recv, no two Recvs overlap, Copies
//     are well formed and overlap neither each other's destinations nor any
//     non-reducing Recv (which an executor may land early; see the
//     package doc);
//   - every send has exactly one receive with the same (sender, receiver,
//     Tag) and the same N, and no (sender, receiver, Tag) repeats;
//   - the schedules cannot deadlock: running them with sends issued when a
//     step starts and never blocking, and a step done when all its receives'
//     sends were issued, every rank finishes;
//   - for Barrier, no rank finishes before every rank's first step started.
//
// It reports the first problem found as an error wrapping ErrMismatch (or
// ErrInvalid for bad params). It does not retain its arguments and may be
// called concurrently.
func Validate(scheds []*Schedule, params []Params) error {
	if err := checkCall(scheds, params); err != nil {
		return err
	}
	for r, s := range scheds {
		if err := checkLocal(r, s, params[r]); err != nil {
			return err
		}
	}
	if err := checkMatching(scheds); err != nil {
		return err
	}
	return checkProgress(scheds, params[0].Coll == Barrier)
}

// checkCall checks that params describe the ranks of one call.
func checkCall(scheds []*Schedule, params []Params) error {
	if len(params) == 0 || len(scheds) != len(params) {
		return fmt.Errorf("%w: %d schedules for %d params", ErrMismatch, len(scheds), len(params))
	}
	p0 := params[0]
	if p0.Size != len(params) {
		return fmt.Errorf("%w: %d params for size %d", ErrMismatch, len(params), p0.Size)
	}
	if p0.Size > maxValidateSize {
		return fmt.Errorf("%w: size %d exceeds the %d ranks Validate handles", ErrInvalid, p0.Size, maxValidateSize)
	}
	for r, p := range params {
		if err := checkParams(p); err != nil {
			return fmt.Errorf("rank %d: %w", r, err)
		}
		if p.Rank != r {
			return fmt.Errorf("%w: params[%d] has rank %d", ErrMismatch, r, p.Rank)
		}
		if !equalLayouts(p.Layout, p0.Layout) {
			return fmt.Errorf("%w: rank %d layout differs from rank 0's", ErrMismatch, r)
		}
		q := p
		q.Rank, q.InPlace, q.Layout = p0.Rank, p0.InPlace, p0.Layout
		if !rooted(p.Coll) {
			q.Root = p0.Root
		}
		if q != p0 {
			return fmt.Errorf("%w: rank %d params %+v differ from rank 0's %+v", ErrMismatch, r, p, p0)
		}
		if scheds[r] == nil {
			return fmt.Errorf("%w: rank %d schedule is nil", ErrMismatch, r)
		}
		if scheds[r].Scratch < 0 {
			return fmt.Errorf("%w: rank %d scratch %d < 0", ErrMismatch, r, scheds[r].Scratch)
		}
	}
	return nil
}

// checkLocal checks one rank's regions and within-step overlaps.
func checkLocal(r int, s *Schedule, p Params) error {
	c := localChecker{r: r, p: p, l: layoutOf(p), scratch: s.Scratch}
	for i, st := range s.Steps {
		c.step = i
		if err := c.check(st); err != nil {
			return err
		}
	}
	return nil
}

// localChecker checks the steps of one rank.
type localChecker struct {
	r, step int
	p       Params
	l       layout
	scratch int
}

func (c *localChecker) fail(format string, a ...any) error {
	return fmt.Errorf("%w: rank %d step %d: %s", ErrMismatch, c.r, c.step, fmt.Sprintf(format, a...))
}

// region checks that g lies in its buffer and may be read (or written).
func (c *localChecker) region(what string, x *Xfer, g Region, write bool) error {
	name := func() string {
		if x == nil {
			return what
		}
		return fmt.Sprintf("%s peer %d tag %d", what, x.Peer, x.Tag)
	}
	if g.Buf > Scratch {
		return c.fail("%s: unknown buffer %d", name(), g.Buf)
	}
	if n := c.l.bufLen(g.Buf, c.scratch); g.Off < 0 || g.N < 0 || g.Off > n-g.N {
		return c.fail("%s: region %v outside buffer of %d", name(), g, n)
	}
	if g.Buf != In || g.N == 0 {
		return nil
	}
	if write && c.l.kind == aliasNone {
		return c.fail("%s: writes the caller's In", name())
	}
	if !write && c.p.Coll == Broadcast && c.r != c.p.Root {
		return c.fail("%s: reads In, which only the root fills", name())
	}
	return nil
}

func (c *localChecker) xfer(what string, x *Xfer, write bool) error {
	if x.Peer < 0 || x.Peer >= c.p.Size || x.Peer == c.r {
		return c.fail("%s peer %d: bad peer", what, x.Peer)
	}
	if x.Reduce && !write {
		return c.fail("%s to %d tag %d: a send cannot reduce", what, x.Peer, x.Tag)
	}
	return c.region(what, x, x.Region, write)
}

func (c *localChecker) check(st Step) error {
	l := c.l
	for i := range st.Sends {
		if err := c.xfer("send", &st.Sends[i], false); err != nil {
			return err
		}
	}
	for j := range st.Recvs {
		x := &st.Recvs[j]
		if err := c.xfer("recv", x, true); err != nil {
			return err
		}
		for _, y := range st.Sends {
			if l.overlaps(x.Region, y.Region) {
				return c.fail("recv %v from %d overlaps send %v to %d", x.Region, x.Peer, y.Region, y.Peer)
			}
		}
		for _, y := range st.Recvs[:j] {
			if l.overlaps(x.Region, y.Region) {
				return c.fail("recvs %v from %d and %v from %d overlap", x.Region, x.Peer, y.Region, y.Peer)
			}
		}
	}
	for j, cp := range st.Copies {
		if cp.Src.N != cp.Dst.N {
			return c.fail("copy %v -> %v: lengths differ", cp.Src, cp.Dst)
		}
		if err := c.region("copy src", nil, cp.Src, false); err != nil {
			return err
		}
		if err := c.region("copy dst", nil, cp.Dst, true); err != nil {
			return err
		}
		if l.overlaps(cp.Src, cp.Dst) {
			return c.fail("copy %v -> %v overlaps itself", cp.Src, cp.Dst)
		}
		for _, d := range st.Copies[:j] {
			if l.overlaps(cp.Dst, d.Dst) || l.overlaps(cp.Dst, d.Src) || l.overlaps(cp.Src, d.Dst) {
				return c.fail("copies %v -> %v and %v -> %v overlap", cp.Src, cp.Dst, d.Src, d.Dst)
			}
		}
		for _, x := range st.Recvs {
			if !x.Reduce && (l.overlaps(cp.Dst, x.Region) || l.overlaps(cp.Src, x.Region)) {
				return c.fail("copy %v -> %v overlaps recv %v from %d", cp.Src, cp.Dst, x.Region, x.Peer)
			}
		}
	}
	return nil
}

// checkMatching checks that sends and receives pair up one to one.
func checkMatching(scheds []*Schedule) error {
	type msg struct {
		n       int
		step    int
		matched bool
	}
	sent := make(map[msgKey]msg)
	for r, s := range scheds {
		for i, st := range s.Steps {
			for _, x := range st.Sends {
				k := sendKey(r, x)
				if m, dup := sent[k]; dup {
					return fmt.Errorf("%w: rank %d sends tag %d to %d twice (steps %d and %d)",
						ErrMismatch, r, x.Tag, x.Peer, m.step, i)
				}
				sent[k] = msg{n: x.Region.N, step: i}
			}
		}
	}
	for r, s := range scheds {
		for i, st := range s.Steps {
			for _, x := range st.Recvs {
				k := recvKey(r, x)
				m, ok := sent[k]
				switch {
				case !ok:
					return fmt.Errorf("%w: rank %d step %d: recv from %d tag %d has no send",
						ErrMismatch, r, i, x.Peer, x.Tag)
				case m.matched:
					return fmt.Errorf("%w: rank %d step %d: recv from %d tag %d is posted twice",
						ErrMismatch, r, i, x.Peer, x.Tag)
				case m.n != x.Region.N:
					return fmt.Errorf("%w: rank %d step %d: recv from %d tag %d of %d elements; rank %d step %d sends %d",
						ErrMismatch, r, i, x.Peer, x.Tag, x.Region.N, x.Peer, m.step, m.n)
				}
				m.matched = true
				sent[k] = m
			}
		}
	}
	for k, m := range sent {
		if !m.matched {
			return fmt.Errorf("%w: rank %d step %d: send to %d tag %d has no recv",
				ErrMismatch, k.src(), m.step, k.dst(), k.tag())
		}
	}
	return nil
}

// checkProgress runs the schedules' step dependencies to completion (sends
// issued when a step starts, a step done when all its receives' sends were
// issued) and reports a deadlock. With barrier, it also checks that each
// rank finishes only after it heard, directly or through others, from every
// rank's first step.
func checkProgress(scheds []*Schedule, barrier bool) error {
	p := len(scheds)
	pos := make([]int, p)
	need := make([]int, p)
	issued := make(map[msgKey][]uint64) // value: sender's knowledge (barrier only)
	waitOn := make(map[msgKey]int)
	words := (p + 63) / 64
	know := make([][]uint64, p)
	for r := range know {
		know[r] = make([]uint64, words)
		know[r][r/64] |= 1 << (r % 64)
	}
	var queue []int
	// finish merges what rank r learned in its current step and moves on.
	finish := func(r int) {
		if barrier {
			for _, x := range scheds[r].Steps[pos[r]].Recvs {
				for w, v := range issued[recvKey(r, x)] {
					know[r][w] |= v
				}
			}
		}
		pos[r]++
	}
	// start issues rank r's sends and runs it until it must wait.
	start := func(r int) {
		for pos[r] < len(scheds[r].Steps) {
			st := scheds[r].Steps[pos[r]]
			for _, x := range st.Sends {
				k := sendKey(r, x)
				var kn []uint64
				if barrier {
					kn = append([]uint64(nil), know[r]...)
				}
				issued[k] = kn
				if q, ok := waitOn[k]; ok {
					delete(waitOn, k)
					if need[q]--; need[q] == 0 {
						queue = append(queue, q)
					}
				}
			}
			for _, x := range st.Recvs {
				k := recvKey(r, x)
				if _, ok := issued[k]; !ok {
					waitOn[k] = r
					need[r]++
				}
			}
			if need[r] > 0 {
				return
			}
			finish(r)
		}
	}
	for r := range p {
		start(r)
	}
	for len(queue) > 0 {
		r := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		finish(r)
		start(r)
	}
	for r, s := range scheds {
		if pos[r] < len(s.Steps) {
			for _, x := range s.Steps[pos[r]].Recvs {
				if _, ok := issued[recvKey(r, x)]; !ok {
					return fmt.Errorf("%w: deadlock: rank %d step %d waits for tag %d from rank %d, which never sends it",
						ErrMismatch, r, pos[r], x.Tag, x.Peer)
				}
			}
		}
		if barrier {
			n := 0
			for _, v := range know[r] {
				n += bits.OnesCount64(v)
			}
			if n != p {
				return fmt.Errorf("%w: barrier: rank %d may leave having heard from %d of %d ranks",
					ErrMismatch, r, n, p)
			}
		}
	}
	return nil
}
