package schedule

import (
	"fmt"
	"math"
)

// Collectives with per-rank counts (the "-v" forms). Their schedules are
// built by BuildV from VParams, not by Build.
const (
	// AllGatherV concatenates every rank's block in rank order; block i
	// has Counts[i] elements.
	AllGatherV Coll = 11
	// ReduceScatterV reduces every rank's In and leaves block i, of
	// Counts[i] elements, on rank i.
	ReduceScatterV Coll = 12
)

// VParams selects the schedule of a collective with per-rank counts.
//
// Buffer conventions, with total = sum(Counts) and displ(i) = sum of
// Counts[:i]: AllGatherV reads In (Counts[Rank] elements) and writes Out
// (total elements), block i at displ(i); in place, In is
// Out[displ(Rank):][:Counts[Rank]]. ReduceScatterV reads In (total
// elements) and writes Out (Counts[Rank] elements); in place, Out is
// In[displ(Rank):][:Counts[Rank]]. Counts may contain zeros.
type VParams struct {
	Coll       Coll // AllGatherV or ReduceScatterV
	Algo       Algo // Ring (the only one so far)
	Rank, Size int
	Counts     []int // len Size, elements of each rank's block
	ChunkElems int   // cap on the elements in one message; 0 = none
	InPlace    bool
}

// vlayout returns the buffer shape of rank p.Rank, or an error for
// VParams that describe no valid call.
func vlayout(p VParams) (layout, error) {
	switch {
	case p.Coll != AllGatherV && p.Coll != ReduceScatterV:
		return layout{}, fmt.Errorf("%w: %v has no per-rank-count schedule", ErrInvalid, p.Coll)
	case p.Algo != Ring:
		return layout{}, fmt.Errorf("%w: %v for %v (available: ring)", ErrUnavailable, p.Algo, p.Coll)
	case p.Size < 1 || p.Size > MaxSize:
		return layout{}, fmt.Errorf("%w: %v size %d out of range [1,%d]", ErrInvalid, p.Coll, p.Size, MaxSize)
	case p.Rank < 0 || p.Rank >= p.Size:
		return layout{}, fmt.Errorf("%w: %v rank %d out of range [0,%d)", ErrInvalid, p.Coll, p.Rank, p.Size)
	case len(p.Counts) != p.Size:
		return layout{}, fmt.Errorf("%w: %v has %d counts for size %d", ErrInvalid, p.Coll, len(p.Counts), p.Size)
	case p.ChunkElems < 0:
		return layout{}, fmt.Errorf("%w: %v chunk %d < 0", ErrInvalid, p.Coll, p.ChunkElems)
	}
	total, displ := 0, 0
	for i, n := range p.Counts {
		if n < 0 {
			return layout{}, fmt.Errorf("%w: %v count of rank %d is %d < 0", ErrInvalid, p.Coll, i, n)
		}
		if total > math.MaxInt32-n {
			return layout{}, fmt.Errorf("%w: %v counts add up to more than %d elements", ErrInvalid, p.Coll, math.MaxInt32)
		}
		if i == p.Rank {
			displ = total
		}
		total += n
	}
	mine := p.Counts[p.Rank]
	var l layout
	if p.Coll == AllGatherV {
		l.in, l.out = mine, total
		if p.InPlace {
			l.kind, l.off = aliasInInOut, displ
		}
	} else {
		l.in, l.out = total, mine
		if p.InPlace {
			l.kind, l.off = aliasOutInIn, displ
		}
	}
	return l, nil
}

// BuildV returns the steps rank p.Rank performs for the per-rank-count
// collective p describes; like Build it is a pure function of p, every rank
// builds its own schedule from VParams that differ only in Rank and InPlace,
// and the schedules fit together (see ValidateV). It returns an error
// wrapping ErrInvalid or ErrUnavailable for VParams that describe no valid
// call. It does not retain p.Counts and may be called concurrently.
//
// Both are rings: AllGatherV passes block r-s from rank r to r+1 at stage
// s, as the equal-block ring does; ReduceScatterV carries the partial sum
// of block b along b+1, b+2, ..., b, reducing each rank's contribution on
// the way, so block b is computed once, on rank b, in ring order. A block
// of zero elements costs no message. Messages are cut into ChunkElems
// pieces that pipeline; the tag of stage s chunk c is s*C+c, with C the
// chunk count of the largest block.
func BuildV(p VParams) (*Schedule, error) {
	l, err := vlayout(p)
	if err != nil {
		return nil, err
	}
	biggest := 0
	for _, n := range p.Counts {
		biggest = max(biggest, n)
	}
	c := int64(nchunks(biggest, p.ChunkElems))
	if need := int64(p.Size-1) * c; need > tagLimit {
		return nil, fmt.Errorf("%w: %v count %d chunk %d needs %d message tags, more than %d; raise ChunkElems",
			ErrInvalid, p.Coll, biggest, p.ChunkElems, need, tagLimit)
	}
	b := &builder{p: Params{Coll: p.Coll, Algo: p.Algo, Rank: p.Rank, Size: p.Size, ChunkElems: p.ChunkElems, InPlace: p.InPlace},
		chunk: p.ChunkElems, l: l, vpos: p.Rank}
	displ := make([]int, p.Size)
	for i := 1; i < p.Size; i++ {
		displ[i] = displ[i-1] + p.Counts[i-1]
	}
	v := vring{b: b, counts: p.Counts, displ: displ, c: c}
	switch {
	case p.Size == 1:
		b.copyStep(Region{In, 0, l.in}, Region{Out, 0, l.out})
	case p.Coll == AllGatherV:
		v.allGather()
	default:
		v.reduceScatter(biggest)
	}
	if b.err != nil {
		return nil, b.err
	}
	return &Schedule{Steps: b.steps, Scratch: b.scratch}, nil
}

// vring builds the ring schedules with per-rank block sizes.
type vring struct {
	b      *builder
	counts []int
	displ  []int
	c      int64 // chunks of the largest block
}

// block returns block i (mod Size) of buf laid out by displ.
func (v *vring) block(buf Buf, i int) Region {
	i = mod(i, v.b.p.Size)
	return Region{buf, v.displ[i], v.counts[i]}
}

func (v *vring) allGather() {
	b := v.b
	p, r := b.p.Size, b.vpos
	pre := b.copies(Region{In, 0, v.counts[r]}, v.block(Out, r))
	next, prev := mod(r+1, p), mod(r-1, p)
	for s := range p - 1 {
		src := v.block(Out, r-s)
		if s == 0 {
			src = Region{In, 0, v.counts[r]}
		}
		t := int64(s) * v.c
		b.stage(ringLeg(next, src, t, false), ringLeg(prev, v.block(Out, r-s-1), t, false), nil, pre)
		pre = nil
	}
}

// reduceScatter: stage s sends the partial sum of block r-s-1 (the rank's
// own In block at s = 0) and reduces block r-s-2 received from r-1 onto
// the rank's In block of it. Partial sums alternate between two Scratch
// slots of the largest block (Out holds only the rank's own block, so it
// cannot carry others); the last stage reduces block r into Out.
func (v *vring) reduceScatter(biggest int) {
	b := v.b
	p, r := b.p.Size, b.vpos
	next, prev := mod(r+1, p), mod(r-1, p)
	slot := func(s int) Region {
		blk := mod(r-s-2, p)
		if s == p-2 {
			return Region{Out, 0, v.counts[blk]}
		}
		b.use(2 * biggest)
		return Region{Scratch, (s % 2) * biggest, v.counts[blk]}
	}
	for s := range p - 1 {
		src := v.block(In, r-s-1)
		if s > 0 {
			src = slot(s - 1)
		}
		dst := slot(s)
		var fill *Region
		if f := v.block(In, r-s-2); !b.l.same(f, dst) {
			fill = &f
		}
		t := int64(s) * v.c
		// A block of zero elements has no chunks: stage sends and
		// receives nothing for it, on both sides alike.
		b.stage(ringLeg(next, src, t, false), ringLeg(prev, dst, t, true), fill, nil)
	}
}

// ValidateV is Validate for per-rank-count schedules: params must describe
// one call (same Coll, Algo, Size, Counts and ChunkElems; params[i].Rank ==
// i) and the schedules must satisfy everything Validate checks. It does not
// retain its arguments and may be called concurrently.
func ValidateV(scheds []*Schedule, params []VParams) error {
	_, err := vcheck(scheds, params)
	return err
}

func vcheck(scheds []*Schedule, params []VParams) ([]layout, error) {
	if len(params) == 0 || len(scheds) != len(params) {
		return nil, fmt.Errorf("%w: %d schedules for %d params", ErrMismatch, len(scheds), len(params))
	}
	p0 := params[0]
	if p0.Size != len(params) || p0.Size > maxValidateSize {
		return nil, fmt.Errorf("%w: %d params for size %d (at most %d)", ErrMismatch, len(params), p0.Size, maxValidateSize)
	}
	ls := make([]layout, len(params))
	for r, p := range params {
		l, err := vlayout(p)
		if err != nil {
			return nil, fmt.Errorf("rank %d: %w", r, err)
		}
		ls[r] = l
		if p.Rank != r || p.Coll != p0.Coll || p.Algo != p0.Algo || p.Size != p0.Size || p.ChunkElems != p0.ChunkElems {
			return nil, fmt.Errorf("%w: rank %d params %+v differ from rank 0's %+v", ErrMismatch, r, p, p0)
		}
		for i := range p.Counts {
			if p.Counts[i] != p0.Counts[i] {
				return nil, fmt.Errorf("%w: rank %d counts %v differ from rank 0's %v", ErrMismatch, r, p.Counts, p0.Counts)
			}
		}
		s := scheds[r]
		if s == nil || s.Scratch < 0 {
			return nil, fmt.Errorf("%w: rank %d schedule is nil or has negative scratch", ErrMismatch, r)
		}
		c := localChecker{r: r, p: Params{Coll: p.Coll, Algo: p.Algo, Rank: r, Size: p.Size}, l: l, scratch: s.Scratch}
		for i, st := range s.Steps {
			c.step = i
			if err := c.check(st); err != nil {
				return nil, err
			}
		}
	}
	if err := checkMatching(scheds); err != nil {
		return nil, err
	}
	return ls, checkProgress(scheds, false)
}

// SimulateV is Simulate for per-rank-count schedules: in[r] is rank r's In
// (its own block for an in-place AllGatherV), and every rank's Out is
// returned. It calls ValidateV first.
func SimulateV(scheds []*Schedule, params []VParams, in [][]float64) ([][]float64, error) {
	ls, err := vcheck(scheds, params)
	if err != nil {
		return nil, err
	}
	return run(scheds, ls, in, math.NaN(), func(dst, src []float64) {
		for i, v := range src {
			dst[i] += v
		}
	}, simOptions{})
}
