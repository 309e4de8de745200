package schedule

// Block-wise logarithmic schedules for AllGather and ReduceScatter on a
// power-of-two number of ranks (Thakur, Rabenseifner & Gropp 2005): log2 p
// rounds instead of the ring's p-1, each pairing rank r with r^dist, so a
// small call pays log2 p latencies. Every byte still crosses one link per
// round it travels, (p-1)·n per rank in all, as on the ring. On other sizes
// they run the ring schedule (no fold: an extra rank would double the
// traffic of its partner), so that every Available algorithm builds for
// every size; Estimate prices them as the ring there.

// pow2 reports whether p is a power of two.
func pow2(p int) bool { return p > 0 && p&(p-1) == 0 }

// doublingAllGather is recursive doubling: round j (dist = 2^j) exchanges
// the 2^j blocks gathered so far, a contiguous window of Out aligned to
// 2^j blocks, with rank r^dist, whose window is the neighbouring one.
func (b *builder) doublingAllGather() {
	p, r, n := b.p.Size, b.p.Rank, b.p.Count
	if !pow2(p) {
		b.ringAllGather()
		return
	}
	if n == 0 {
		return
	}
	out := func(lo, hi int) Region { return Region{Out, lo * n, (hi - lo) * n} }
	pre := b.copies(Region{In, 0, n}, out(r, r+1))
	lo, hi := r, r+1
	for dist := 1; dist < p; dist *= 2 {
		w := hi - lo
		plo := lo + w
		if r&dist != 0 {
			plo = lo - w
		}
		send := out(lo, hi)
		if dist == 1 {
			send = Region{In, 0, n} // the copy into Out runs in the same step
		}
		b.stage(phaseLeg(r^dist, send, phaseDoubling, false),
			phaseLeg(r^dist, out(plo, plo+w), phaseDoubling, false), nil, pre)
		pre = nil
		lo, hi = min(lo, plo), max(hi, plo+w)
	}
}

// halvingReduceScatter is recursive halving: round j (dist = p/2, p/4, ...,
// 1) splits the current window of blocks in two, sends the half on the
// partner's side of dist to rank r^dist and reduces the partner's copy of
// its own half. The first round reads In; partial sums then live in
// Scratch (p/2 blocks, indexed from the first kept block); the last round
// reduces block r into Out. Block r is computed once, by rank r.
func (b *builder) halvingReduceScatter() {
	p, r, n := b.p.Size, b.p.Rank, b.p.Count
	if !pow2(p) {
		b.ringReduceScatter()
		return
	}
	if n == 0 {
		return
	}
	in := func(lo, hi int) Region { return Region{In, lo * n, (hi - lo) * n} }
	base := 0
	sc := func(lo, hi int) Region { return Region{Scratch, (lo - base) * n, (hi - lo) * n} }
	lo, hi := 0, p
	for dist := p / 2; dist > 0; dist /= 2 {
		first := dist == p/2
		mid := (lo + hi) / 2
		klo, khi, glo, ghi := lo, mid, mid, hi
		if r&dist != 0 {
			klo, khi, glo, ghi = mid, hi, lo, mid
		}
		send := sc(glo, ghi)
		if first {
			send = in(glo, ghi)
		}
		var dst Region
		var fill *Region
		switch {
		case dist == 1:
			dst = Region{Out, 0, n}
		case first:
			base = klo
			b.use((khi - klo) * n)
			dst = sc(klo, khi)
		default:
			dst = sc(klo, khi) // holds the partial sums already
		}
		switch {
		case first:
			if f := in(klo, khi); !b.l.same(f, dst) {
				fill = &f
			}
		case dist == 1:
			f := sc(klo, khi)
			fill = &f
		}
		b.stage(phaseLeg(r^dist, send, phaseHalving, false), phaseLeg(r^dist, dst, phaseHalving, true), fill, nil)
		lo, hi = klo, khi
	}
}
