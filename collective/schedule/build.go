package schedule

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"
)

// Sentinel errors. Build, Validate and Simulate wrap them with the detail.
var (
	// ErrInvalid reports Params that describe no valid call.
	ErrInvalid = errors.New("schedule: invalid params")
	// ErrUnavailable reports an algorithm that has no schedule for the
	// collective (including AlgoAuto, which Choose must resolve first).
	ErrUnavailable = errors.New("schedule: algorithm not available")
	// ErrMismatch reports schedules that cannot run together: unmatched or
	// duplicate messages, out-of-bounds or overlapping regions, deadlock.
	ErrMismatch = errors.New("schedule: schedules do not fit together")
)

// Available returns the algorithms that have a schedule for c, in increasing
// Algo order (the order Choose breaks ties in), including those that need a
// Layout (see Needs and AvailableOn). It returns nil for SendRecv and
// unknown collectives. The caller owns the returned slice.
func Available(c Coll) []Algo {
	switch c {
	case AllReduce:
		return []Algo{Ring, Tree, HalvingDoubling, RecursiveDoubling, Torus, Hierarchical, Swing, MultiRing}
	case Broadcast, Reduce:
		return []Algo{Ring, Tree}
	case AllGather:
		return []Algo{Ring, RecursiveDoubling}
	case ReduceScatter:
		return []Algo{Ring, HalvingDoubling}
	case AllToAll, Gather, Scatter, Barrier:
		return []Algo{Ring}
	}
	return nil
}

func algoNames(as []Algo) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

func rooted(c Coll) bool {
	return c == Broadcast || c == Reduce || c == Gather || c == Scatter
}

// blocked reports whether Count is a per-rank block, so buffers hold
// Count*Size elements.
func blocked(c Coll) bool {
	return c == AllGather || c == ReduceScatter || c == AllToAll || c == Gather || c == Scatter
}

// MaxSize is the largest world size Build accepts. Tree schedules cost
// O(Size) to build, so a corrupt size must not reach them.
const MaxSize = 1 << 20

// checkParams reports why p describes no valid call, or nil.
func checkParams(p Params) error {
	algos := Available(p.Coll)
	if algos == nil {
		return fmt.Errorf("%w: collective %v has no schedule", ErrInvalid, p.Coll)
	}
	if p.Algo == AlgoAuto {
		return fmt.Errorf("%w: auto for %v must be resolved by Choose first (available: %s)",
			ErrUnavailable, p.Coll, algoNames(algos))
	}
	if !slices.Contains(algos, p.Algo) {
		return fmt.Errorf("%w: %v for %v (available: %s)", ErrUnavailable, p.Algo, p.Coll, algoNames(algos))
	}
	switch {
	case p.Size < 1 || p.Size > MaxSize:
		return fmt.Errorf("%w: %v size %d out of range [1,%d]", ErrInvalid, p.Coll, p.Size, MaxSize)
	case p.Rank < 0 || p.Rank >= p.Size:
		return fmt.Errorf("%w: %v rank %d out of range [0,%d)", ErrInvalid, p.Coll, p.Rank, p.Size)
	case p.Count < 0:
		return fmt.Errorf("%w: %v count %d < 0", ErrInvalid, p.Coll, p.Count)
	case p.ChunkElems < 0:
		return fmt.Errorf("%w: %v chunk %d < 0", ErrInvalid, p.Coll, p.ChunkElems)
	case rooted(p.Coll) && (p.Root < 0 || p.Root >= p.Size):
		return fmt.Errorf("%w: %v root %d out of range [0,%d)", ErrInvalid, p.Coll, p.Root, p.Size)
	case p.Coll == Barrier && p.Count != 0:
		return fmt.Errorf("%w: barrier count %d != 0", ErrInvalid, p.Count)
	case blocked(p.Coll) && p.Count > math.MaxInt32/p.Size:
		// Keeps every offset, and count*size*size tag arithmetic, far from
		// overflow; no caller buffer is that large.
		return fmt.Errorf("%w: %v count %d x size %d overflows", ErrInvalid, p.Coll, p.Count, p.Size)
	}
	return checkLayout(p)
}

// Build returns the steps rank p.Rank performs for the collective call p
// describes. It is a pure function of p: every rank of a call builds its own
// schedule from the same Params (except Rank and InPlace) and the schedules
// fit together (see Validate). It returns an error wrapping ErrInvalid or
// ErrUnavailable for Params that describe no valid call, never panics, and may
// be called concurrently. The returned Schedule is owned by the caller.
func Build(p Params) (*Schedule, error) {
	if err := checkParams(p); err != nil {
		return nil, err
	}
	if err := checkTags(p); err != nil {
		return nil, err
	}
	b := &builder{p: p, chunk: p.ChunkElems, l: layoutOf(p), vpos: p.Rank}
	if p.Algo == Ring && p.Layout != nil && p.Layout.Ring != nil {
		b.order = p.Layout.Ring
		b.vpos = position(b.order, p.Rank)
	}
	switch {
	case p.Size == 1:
		b.single()
	case p.Algo == Ring:
		b.ring()
	case p.Algo == Torus, p.Algo == Hierarchical, p.Algo == Swing:
		b.dimwise()
	case p.Algo == MultiRing:
		b.multiRing()
	case p.Algo == Tree:
		b.tree()
	case p.Algo == HalvingDoubling && p.Coll == ReduceScatter:
		b.halvingReduceScatter() // blocks.go
	case p.Algo == RecursiveDoubling && p.Coll == AllGather:
		b.doublingAllGather() // blocks.go
	case p.Algo == HalvingDoubling:
		b.halvingDoubling()
	case p.Algo == RecursiveDoubling:
		b.recursiveDoubling()
	}
	if b.err != nil {
		return nil, b.err
	}
	return &Schedule{Steps: b.steps, Scratch: b.scratch}, nil
}

// checkTags fails when the call needs more message tags than its tag
// layout holds (see the package doc), before anything is built.
func checkTags(p Params) error {
	n, c := int64(p.Count), func(x int64) int64 { return int64(nchunks(int(x), p.ChunkElems)) }
	size := int64(p.Size)
	need, lim := int64(0), tagLimit
	switch p.Algo {
	case Ring:
		switch p.Coll {
		case AllReduce:
			need = 2 * (size - 1) * c((n+size-1)/size)
		case ReduceScatter, AllGather, Gather, Scatter:
			need = (size - 1) * c(n)
		case Broadcast, Reduce, AllToAll:
			need = c(n)
		}
	case Tree:
		need = 4 * c((n+1)/2)
	case HalvingDoubling, RecursiveDoubling:
		need, lim = c(n), 1<<phaseBits
		if p.Coll == AllGather || p.Coll == ReduceScatter {
			// blocks.go: at most p/2 blocks a round; the ring otherwise.
			need = c(n * (size / 2))
			if !pow2(p.Size) {
				need, lim = (size-1)*c(n), tagLimit
			}
		}
	case Torus, Hierarchical, Swing:
		// A ring level of k uses (k-1)·C(n/k) <= C(n)+k tags a phase, a
		// swing level lg k·C(n).
		need, lim = c(n)*int64(bits.Len(uint(p.Size)))+size, 1<<phaseBits
	case MultiRing:
		need, lim = 2*(size-1)*c((n+size-1)/size), 1<<phaseBits
	}
	if need > lim {
		return fmt.Errorf("%w: %v/%v count %d chunk %d needs %d message tags, more than %d; raise ChunkElems",
			ErrInvalid, p.Coll, p.Algo, p.Count, p.ChunkElems, need, lim)
	}
	return nil
}

// builder accumulates one rank's steps.
type builder struct {
	p       Params
	chunk   int
	l       layout
	steps   []Step
	scratch int
	err     error
	xslab   []Xfer // backing store for one-element Xfer lists
	cslab   []Copy // backing store for short Copy lists
	// order is the ring order of Ring schedules (Layout.Ring; nil: rank
	// order) and vpos this rank's position in it.
	order []int
	vpos  int
}

// posOf returns the ring position of rank r.
func (b *builder) posOf(r int) int {
	if b.order != nil {
		return position(b.order, r)
	}
	return r
}

// rankAt returns the rank at ring position i (mod Size).
func (b *builder) rankAt(i int) int {
	i = mod(i, b.p.Size)
	if b.order != nil {
		return b.order[i]
	}
	return i
}

// one returns the list [x], carved from a slab so that long pipelines do
// not allocate per step. The list has no spare capacity, so appending to it
// copies.
func (b *builder) one(x Xfer) []Xfer {
	if len(b.xslab) == cap(b.xslab) {
		b.xslab = make([]Xfer, 0, min(max(2*cap(b.xslab), 16), 4096))
	}
	b.xslab = append(b.xslab, x)
	n := len(b.xslab)
	return b.xslab[n-1 : n : n]
}

// withCopy returns cs followed by c, carved from a slab when cs is empty.
func (b *builder) withCopy(cs []Copy, c Copy) []Copy {
	if len(cs) > 0 {
		return append(cs, c)
	}
	if len(b.cslab) == cap(b.cslab) {
		b.cslab = make([]Copy, 0, min(max(2*cap(b.cslab), 16), 4096))
	}
	b.cslab = append(b.cslab, c)
	n := len(b.cslab)
	return b.cslab[n-1 : n : n]
}

func (b *builder) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

// tagLimit is one past the largest tag (tags are uint32).
const tagLimit = int64(math.MaxUint32) + 1

// phaseBits is the shift of the phase number in tags built as phase<<28 | i.
const phaseBits = 28

// tag returns v as a tag, failing the build when v is not below lim.
func (b *builder) tag(v, lim int64) uint32 {
	if v < 0 || v >= lim || v >= tagLimit {
		b.fail(fmt.Errorf("%w: %v/%v count %d chunk %d needs more message tags than fit; raise ChunkElems",
			ErrInvalid, b.p.Coll, b.p.Algo, b.p.Count, b.p.ChunkElems))
		return 0
	}
	return uint32(v)
}

// use records that the schedule addresses Scratch[0:n].
func (b *builder) use(n int) {
	b.scratch = max(b.scratch, n)
}

// copyStep appends a step that copies src to dst, unless the copy is empty or
// a no-op under aliasing.
func (b *builder) copyStep(src, dst Region) {
	if c := b.copies(src, dst); c != nil {
		b.steps = append(b.steps, Step{Copies: c})
	}
}

// copies returns a one-copy list, or nil if the copy is empty or a no-op.
func (b *builder) copies(src, dst Region) []Copy {
	if src.N == 0 || b.l.same(src, dst) {
		return nil
	}
	return []Copy{{Src: src, Dst: dst}}
}

// leg is one side of a pipelined transfer: reg is cut into chunks, chunk c
// is one message carrying tag+c (which must stay below lim).
type leg struct {
	peer   int
	reg    Region
	tag    int64
	lim    int64
	reduce bool
}

// stage appends the steps of one pipelined exchange: step c sends chunk c of
// send and receives chunk c of recv (either may be nil or run out of chunks
// first). fill, when not nil, is copied chunk by chunk onto recv's chunks in
// the same step, before the receive reduces into them. pre goes into the
// first step (or a copy-only step if nothing is transferred).
func (b *builder) stage(send, recv *leg, fill *Region, pre []Copy) {
	ns, nr := 0, 0
	if send != nil {
		ns = nchunks(send.reg.N, b.chunk)
	}
	if recv != nil {
		nr = nchunks(recv.reg.N, b.chunk)
	}
	k := max(ns, nr)
	if k == 0 {
		if len(pre) > 0 {
			b.steps = append(b.steps, Step{Copies: pre})
		}
		return
	}
	for c := range k {
		var st Step
		if c == 0 {
			st.Copies = slices.Clip(pre)
		}
		if c < nr {
			g := chunkOf(recv.reg, c, b.chunk)
			if fill != nil {
				st.Copies = b.withCopy(st.Copies, Copy{Src: chunkOf(*fill, c, b.chunk), Dst: g})
			}
			st.Recvs = b.one(Xfer{Peer: recv.peer, Tag: b.tag(recv.tag+int64(c), recv.lim), Region: g, Reduce: recv.reduce})
		}
		if c < ns {
			st.Sends = b.one(Xfer{Peer: send.peer, Tag: b.tag(send.tag+int64(c), send.lim), Region: chunkOf(send.reg, c, b.chunk)})
		}
		b.steps = append(b.steps, st)
	}
}

// single builds the one-rank schedules: at most a local copy of In to Out
// (every collective's result on one rank is its own input).
func (b *builder) single() {
	n := b.p.Count
	b.copyStep(Region{In, 0, n}, Region{Out, 0, n})
}
