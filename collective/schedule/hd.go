package schedule

// Tag phases of the halving-doubling and recursive-doubling schedules:
// tag = phase<<28 | chunk. Each pair of ranks exchanges at most one message
// stream per phase (round distances are distinct), so the chunk index is
// enough within a phase.
const (
	phaseFold     = 0 // extra rank -> partner, its input
	phaseHalving  = 1 // recursive-halving reduce-scatter
	phaseDoubling = 2 // recursive-doubling all-gather
	phaseUnfold   = 3 // partner -> extra rank, the result
	phaseExchange = 4 // recursive-doubling full-buffer exchange
)

// phaseLeg is a leg whose tags are phase<<28 | chunk.
func phaseLeg(peer int, reg Region, phase int, reduce bool) *leg {
	t := int64(phase) << phaseBits
	return &leg{peer: peer, reg: reg, tag: t, lim: t + 1<<phaseBits, reduce: reduce}
}

// folding describes how p ranks fold onto q = 2^floor(log2 p) participants
// (Thakur, Rabenseifner & Gropp 2005): among the first 2(p-q) ranks, each even
// rank sends its input to the odd rank above it and waits for the result;
// the odd rank takes part as id r/2, and ranks from 2(p-q) on as id r-(p-q).
type folding struct {
	q, rem int
}

func foldOf(p int) folding {
	q := 1
	for q*2 <= p {
		q *= 2
	}
	return folding{q: q, rem: p - q}
}

// id returns the participant id of rank r, or -1 for an extra rank.
func (f folding) id(r int) int {
	switch {
	case r >= 2*f.rem:
		return r - f.rem
	case r%2 == 1:
		return r / 2
	}
	return -1
}

// rank returns the rank of participant id.
func (f folding) rank(id int) int {
	if id < f.rem {
		return 2*id + 1
	}
	return id + f.rem
}

// fold adds the folding steps of rank r around body, which runs only on
// participants and returns where the result is. Extra ranks send In and
// receive the result into Out; their partners reduce the extra input into
// Out before body and send the result back after it.
func (b *builder) fold(f folding, body func(id int, src Region) Region) {
	r, n := b.p.Rank, b.p.Count
	all := func(buf Buf) Region { return Region{buf, 0, n} }
	id := f.id(r)
	if id < 0 {
		b.stage(phaseLeg(r+1, all(In), phaseFold, false), nil, nil, nil)
		b.stage(nil, phaseLeg(r+1, all(Out), phaseUnfold, false), nil, nil)
		return
	}
	src := all(In)
	if b.p.InPlace {
		src = all(Out)
	}
	if r < 2*f.rem {
		var fill *Region
		if !b.p.InPlace {
			fill = &src
		}
		b.stage(nil, phaseLeg(r-1, all(Out), phaseFold, true), fill, nil)
		src = all(Out)
	}
	res := body(id, src)
	pre := b.copies(res, all(Out))
	if r < 2*f.rem {
		b.stage(phaseLeg(r-1, res, phaseUnfold, false), nil, nil, pre)
	} else if pre != nil {
		b.steps = append(b.steps, Step{Copies: pre})
	}
}

// halvingDoubling is Rabenseifner's all-reduce: after folding, log2 q rounds
// of recursive halving (round j pairs ids differing in bit q>>(j+1); each
// keeps the half of its block window on its side of that bit, reduces the
// partner's copy of it and sends the other half) leave id i with the final
// block i of q uneven blocks; log2 q rounds of recursive doubling gather the
// blocks back. Each block is computed once by one rank and then copied, so
// all ranks agree bitwise; the association depends on (Size, Count) only.
func (b *builder) halvingDoubling() {
	n := b.p.Count
	f := foldOf(b.p.Size)
	span := func(buf Buf, lo, hi int) Region {
		o := blockOff(n, f.q, lo)
		return Region{buf, o, blockOff(n, f.q, hi) - o}
	}
	b.fold(f, func(id int, src Region) Region {
		lo, hi := 0, f.q
		for dist := f.q / 2; dist > 0; dist /= 2 {
			peer := f.rank(id ^ dist)
			mid := (lo + hi) / 2
			klo, khi, glo, ghi := lo, mid, mid, hi
			if id&dist != 0 {
				klo, khi, glo, ghi = mid, hi, lo, mid
			}
			keep := span(Out, klo, khi)
			var fill *Region
			if src.Buf == In {
				g := span(In, klo, khi)
				fill = &g
			}
			b.stage(phaseLeg(peer, span(src.Buf, glo, ghi), phaseHalving, false),
				phaseLeg(peer, keep, phaseHalving, true), fill, nil)
			src.Buf = Out
			lo, hi = klo, khi
		}
		for dist := 1; dist < f.q; dist *= 2 {
			peer := f.rank(id ^ dist)
			w := hi - lo
			plo := lo + w
			if id&dist != 0 {
				plo = lo - w
			}
			b.stage(phaseLeg(peer, span(Out, lo, hi), phaseDoubling, false),
				phaseLeg(peer, span(Out, plo, plo+w), phaseDoubling, false), nil, nil)
			lo, hi = min(lo, plo), max(hi, plo+w)
		}
		return Region{Out, 0, n}
	})
}

// recursiveDoubling is the latency-optimal all-reduce: after folding, round
// j exchanges the whole buffer with id^(1<<j). A Recv may not overlap a Send
// in one step, so each round copies the current buffer into the other of
// Out and Scratch, sends the current one and reduces the partner's into the
// copy; rounds alternate so that the last lands in Out when it can. Partners
// compute a+b and b+a from the same a and b, equal bit for bit because the
// reduction is commutative per element, so by induction every rank holds
// the same association; it depends on (Size, Count) only.
func (b *builder) recursiveDoubling() {
	n := b.p.Count
	f := foldOf(b.p.Size)
	rounds := 0
	for 1<<rounds < f.q {
		rounds++
	}
	b.fold(f, func(id int, src Region) Region {
		other := func(g Region) Region {
			if g.Buf == Out {
				b.use(n)
				return Region{Scratch, 0, n}
			}
			return Region{Out, 0, n}
		}
		// The first destination: the one that makes the last round land
		// in Out, unless that is where the data already is.
		dst := Region{Out, 0, n}
		if rounds%2 == 0 {
			dst = Region{Scratch, 0, n}
			b.use(n)
		}
		if src.Buf == Out && dst.Buf == Out {
			dst = other(src)
		}
		for j := range rounds {
			if j > 0 {
				dst = other(src)
			}
			peer := f.rank(id ^ 1<<j)
			fill := src
			b.stage(phaseLeg(peer, src, phaseExchange, false), phaseLeg(peer, dst, phaseExchange, true), &fill, nil)
			src = dst
		}
		return src
	})
}
