package schedule

import "fmt"

// Tag phases of the dimension-wise schedules (Torus, Hierarchical, Swing):
// tag = phase<<28 | step*C + chunk, C the chunk count of the largest
// message of that step's kind. Two ranks meet in one level at most (they
// differ in one grid coordinate; or are in one group, or have one index
// in different groups), so phase, step and chunk name every message.
const (
	phaseDimFold   = 0 // extra line member -> its core member, the region
	phaseDimRS     = 1 // reduce-scatter along the line
	phaseDimAG     = 2 // all-gather along the line
	phaseDimUnfold = 3 // core member -> extra, the result
)

// dimLevel is one level of a dimension-wise all-reduce, as seen by one rank:
// the line of ranks it reduces with at that level, in ring order, and its
// position there. The first core positions take part; a position v >= core
// folds its region onto position v mod core first and gets the result back
// last, skipping the deeper levels. swing selects Swing's pairing over the
// core (a power of two) instead of a ring.
type dimLevel struct {
	line  []int
	pos   int
	core  int
	swing bool
}

// dimwise builds Torus, Hierarchical and Swing: the levels of this rank,
// then the recursive reduce-scatter / all-reduce / all-gather over them.
func (b *builder) dimwise() {
	if l := b.p.Layout; b.p.Algo == Swing && l != nil && multiDim(l.Dims) {
		b.swingTorus()
		return
	}
	lv, err := levelsOf(b.p)
	if err != nil {
		b.fail(err)
		return
	}
	src := In
	if b.p.InPlace {
		src = Out
	}
	b.dimLevel(lv, 0, 0, b.p.Count, src)
}

// levelsOf returns rank p.Rank's levels for p's algorithm and layout.
func levelsOf(p Params) ([]dimLevel, error) {
	l, r := p.Layout, p.Rank
	switch {
	case p.Algo == Hierarchical:
		return hierLevels(l.Groups, r), nil
	case l != nil && len(l.Dims) > 0:
		return gridLevels(l.Dims, l.Grid, r, p.Algo == Swing), nil
	}
	// Swing on one ring: rank order, or Layout.Ring.
	line := make([]int, p.Size)
	for i := range line {
		line[i] = i
	}
	pos := r
	if l != nil && l.Ring != nil {
		line, pos = l.Ring, position(l.Ring, r)
	}
	return []dimLevel{{line: line, pos: pos, core: pow2Floor(p.Size), swing: true}}, nil
}

func pow2Floor(n int) int {
	q := 1
	for q*2 <= n {
		q *= 2
	}
	return q
}

// gridLevels returns the levels of rank r on the grid dims (ranks placed by
// grid, nil meaning the identity): level j is r's line along dimension j.
func gridLevels(dims, grid []int, r int, swing bool) []dimLevel {
	idx := r
	if grid != nil {
		idx = position(grid, r)
	}
	rankOf := func(i int) int {
		if grid != nil {
			return grid[i]
		}
		return i
	}
	lv := make([]dimLevel, len(dims))
	stride := 1
	for j, d := range dims {
		c := idx / stride % d
		base := idx - c*stride
		line := make([]int, d)
		for t := range d {
			line[t] = rankOf(base + t*stride)
		}
		core := d
		if swing {
			core = pow2Floor(d)
		}
		lv[j] = dimLevel{line: line, pos: c, core: core, swing: swing}
		stride *= d
	}
	return lv
}

// hierLevels returns the levels of rank r in groups: its group (core: the
// smallest group's size; the members beyond it fold in), then the ranks
// with its index in every group (only core members get there).
func hierLevels(groups [][]int, r int) []dimLevel {
	m := len(groups[0])
	gi, li := 0, 0
	for i, g := range groups {
		m = min(m, len(g))
		for j, x := range g {
			if x == r {
				gi, li = i, j
			}
		}
	}
	lv := []dimLevel{{line: groups[gi], pos: li, core: m}}
	if li < m {
		across := make([]int, len(groups))
		for i, g := range groups {
			across[i] = g[li]
		}
		lv = append(lv, dimLevel{line: across, pos: gi, core: len(groups)})
	}
	return lv
}

// dimLegs returns a leg pair's tags for phase, step s and C chunks a step.
func dimLeg(peer int, reg Region, phase int, base int64, reduce bool) *leg {
	t := int64(phase) << phaseBits
	return &leg{peer: peer, reg: reg, tag: t + base, lim: t + 1<<phaseBits, reduce: reduce}
}

// dimLevel all-reduces Out[off:off+n] (whose current values are in src:
// In until something was reduced into Out) over levels lv[j:]: fold the
// extras in, reduce-scatter along the line, recurse on the shard this rank
// now owns, all-gather along the line, send the extras the result. Each
// element is summed once, by the one rank that owns it at the deepest
// level, and copied everywhere else, so every rank ends with the same bits.
func (b *builder) dimLevel(lv []dimLevel, j, off, n int, src Buf) {
	if b.err != nil {
		return
	}
	if j == len(lv) {
		if src == In {
			b.copyStep(Region{In, off, n}, Region{Out, off, n})
		}
		return
	}
	L := lv[j]
	d, v, k := len(L.line), L.pos, L.core
	if d == 1 {
		b.dimLevel(lv, j+1, off, n, src)
		return
	}
	all := func(buf Buf) Region { return Region{buf, off, n} }
	if v >= k {
		peer := L.line[v%k]
		b.stage(dimLeg(peer, all(src), phaseDimFold, 0, false), nil, nil, nil)
		b.stage(nil, dimLeg(peer, all(Out), phaseDimUnfold, 0, false), nil, nil)
		return
	}
	var extras []int
	for e := v + k; e < d; e += k {
		extras = append(extras, L.line[e])
	}
	for _, e := range extras {
		var fill *Region
		if src == In {
			f := all(In)
			fill = &f
		}
		b.stage(nil, dimLeg(e, all(Out), phaseDimFold, 0, true), fill, nil)
		src = Out
	}
	if L.swing {
		b.swingLevel(lv, j, off, n, src)
	} else {
		b.ringLevel(lv, j, off, n, src)
	}
	for _, e := range extras {
		b.stage(dimLeg(e, all(Out), phaseDimUnfold, 0, false), nil, nil, nil)
	}
}

// ringLevel is the core of a ring level: the reduce-scatter and
// all-gather of ringAllReduce over the first core members of the line,
// with the deeper levels in between on the block this rank owns.
func (b *builder) ringLevel(lv []dimLevel, j, off, n int, src Buf) {
	L := lv[j]
	v, k := L.pos, L.core
	if k == 1 {
		b.dimLevel(lv, j+1, off, n, src)
		return
	}
	blk := func(buf Buf, i int) Region {
		i = mod(i, k)
		return Region{buf, off + blockOff(n, k, i), blockLen(n, k, i)}
	}
	c := int64(nchunks(blockLen(n, k, 0), b.chunk))
	next, prev := L.line[mod(v+1, k)], L.line[mod(v-1, k)]
	for s := range k - 1 {
		from := Out
		var fill *Region
		if src == In {
			f := blk(In, v-s-1)
			fill = &f
			if s == 0 {
				from = In
			}
		}
		t := int64(s) * c
		b.stage(dimLeg(next, blk(from, v-s), phaseDimRS, t, false),
			dimLeg(prev, blk(Out, v-s-1), phaseDimRS, t, true), fill, nil)
	}
	own := blk(Out, v+1)
	b.dimLevel(lv, j+1, own.Off, own.N, Out)
	for s := range k - 1 {
		t := int64(s) * c
		b.stage(dimLeg(next, blk(Out, v+1-s), phaseDimAG, t, false),
			dimLeg(prev, blk(Out, v-s), phaseDimAG, t, false), nil, nil)
	}
}

// rho is Swing's distance at step s: (1 - (-2)^(s+1)) / 3, that is
// 1, -1, 3, -5, 11, -21, ...
func rho(s int) int {
	x := 1
	for range s + 1 {
		x *= -2
	}
	return (1 - x) / 3
}

// swingPeer returns the position Swing pairs v with at step s among k.
func swingPeer(v, s, k int) int {
	if v%2 == 0 {
		return mod(v+rho(s), k)
	}
	return mod(v-rho(s), k)
}

// swingSlots returns, for k (a power of two) Swing participants, the slot
// of each position: the k blocks of a region are laid out so that the
// blocks a participant is responsible for after step s (its own, and those
// of every participant it reaches in steps s+1, s+2, ...) are the aligned
// run of k>>(s+1) slots around its own slot. It fails if Swing's pairing
// did not nest that way (it does for every power of two; the tests check).
func swingSlots(k int) ([]int, error) {
	steps := 0
	for 1<<steps < k {
		steps++
	}
	cls := make([]int, k) // class of each position at the current level
	lists := make([][]int, k)
	for v := range k {
		cls[v], lists[v] = v, []int{v}
	}
	for s := steps - 1; s >= 0; s-- {
		next := make([]int, k)
		for i := range next {
			next[i] = -1
		}
		var merged [][]int
		for v := range k {
			if next[v] >= 0 {
				continue
			}
			a, bb := cls[v], cls[swingPeer(v, s, k)]
			if a == bb {
				return nil, fmt.Errorf("%w: swing: %d ranks do not nest at step %d", ErrInvalid, k, s)
			}
			id := len(merged)
			merged = append(merged, append(append([]int(nil), lists[a]...), lists[bb]...))
			for _, u := range lists[a] {
				if cls[swingPeer(u, s, k)] != bb {
					return nil, fmt.Errorf("%w: swing: %d ranks do not nest at step %d", ErrInvalid, k, s)
				}
				next[u] = id
			}
			for _, u := range lists[bb] {
				next[u] = id
			}
		}
		cls, lists = next, merged
	}
	slot := make([]int, k)
	for i, v := range lists[0] {
		slot[v] = i
	}
	return slot, nil
}

// swingLevel is the core of a Swing level, Rabenseifner-style: step s of
// the reduce-scatter pairs position v with swingPeer(v, s); each keeps the
// half of their common slot run on its side, reduces the partner's copy
// of it and sends the other half. After log2 k steps v owns its slot; the
// deeper levels run on it; the all-gather replays the steps backwards.
func (b *builder) swingLevel(lv []dimLevel, j, off, n int, src Buf) {
	L := lv[j]
	v, k := L.pos, L.core
	if k == 1 {
		b.dimLevel(lv, j+1, off, n, src)
		return
	}
	slot, err := swingSlots(k)
	if err != nil {
		b.fail(err)
		return
	}
	steps := 0
	for 1<<steps < k {
		steps++
	}
	span := func(buf Buf, lo, w int) Region {
		o := blockOff(n, k, lo)
		return Region{buf, off + o, blockOff(n, k, lo+w) - o}
	}
	c := int64(nchunks(n, b.chunk))
	from := src
	for s := range steps {
		u := swingPeer(v, s, k)
		w := k >> (s + 1)
		keep, give := slot[v]&^(w-1), slot[u]&^(w-1)
		var fill *Region
		if from == In {
			f := span(In, keep, w)
			fill = &f
		}
		t := int64(s) * c
		b.stage(dimLeg(L.line[u], span(from, give, w), phaseDimRS, t, false),
			dimLeg(L.line[u], span(Out, keep, w), phaseDimRS, t, true), fill, nil)
		from = Out
	}
	own := span(Out, slot[v], 1)
	b.dimLevel(lv, j+1, own.Off, own.N, Out)
	for s := steps - 1; s >= 0; s-- {
		u := swingPeer(v, s, k)
		w := k >> (s + 1)
		t := int64(s) * c
		b.stage(dimLeg(L.line[u], span(Out, slot[v]&^(w-1), w), phaseDimAG, t, false),
			dimLeg(L.line[u], span(Out, slot[u]&^(w-1), w), phaseDimAG, t, false), nil, nil)
	}
}

// multiRing splits Count into one slice per ring (blocks of Count, the
// larger first) and runs ringAllReduce on every slice over its ring at
// once, on a global clock: step (stage s, chunk c) carries chunk c of
// stage s of every ring, so a message is sent and received at the same
// step index everywhere. Tag: ring<<28 | s*C+c, C the chunk count of the
// largest block of the largest slice. Each slice's blocks are summed once,
// in their ring's order, and copied: every rank ends with the same bits.
func (b *builder) multiRing() {
	p, n, r := b.p.Size, b.p.Count, b.p.Rank
	rings := ringsOf(b.p.Layout)
	k := len(rings)
	type ringState struct {
		off, n     int
		v          int
		next, prev int
	}
	rs := make([]ringState, k)
	for i, ring := range rings {
		v := position(ring, r)
		rs[i] = ringState{off: blockOff(n, k, i), n: blockLen(n, k, i), v: v,
			next: ring[mod(v+1, p)], prev: ring[mod(v-1, p)]}
	}
	c := nchunks(blockLen(blockLen(n, k, 0), p, 0), b.chunk)
	src := In
	if b.p.InPlace {
		src = Out
	}
	for s := range 2 * (p - 1) {
		for ch := range c {
			var st Step
			for i, x := range rs {
				blk := func(buf Buf, j int) Region {
					j = mod(j, p)
					return Region{buf, x.off + blockOff(x.n, p, j), blockLen(x.n, p, j)}
				}
				var send, recv Region
				reduce := s < p-1
				if reduce {
					from := Out
					if s == 0 {
						from = src
					}
					send, recv = blk(from, x.v-s), blk(Out, x.v-s-1)
				} else {
					a := s - (p - 1)
					send, recv = blk(Out, x.v+1-a), blk(Out, x.v-a)
				}
				t := int64(i)<<phaseBits + int64(s*c+ch)
				lim := int64(i+1) << phaseBits
				if ch < nchunks(recv.N, b.chunk) {
					g := chunkOf(recv, ch, b.chunk)
					if reduce && src == In {
						st.Copies = append(st.Copies, Copy{Src: Region{In, g.Off, g.N}, Dst: g})
					}
					st.Recvs = append(st.Recvs, Xfer{Peer: x.prev, Tag: b.tag(t, lim), Region: g, Reduce: reduce})
				}
				if ch < nchunks(send.N, b.chunk) {
					st.Sends = append(st.Sends, Xfer{Peer: x.next, Tag: b.tag(t, lim), Region: chunkOf(send, ch, b.chunk)})
				}
			}
			if len(st.Sends)+len(st.Recvs) > 0 {
				b.steps = append(b.steps, st)
			}
		}
	}
}

// multiDim reports whether more than one dimension of dims has more than
// one rank.
func multiDim(dims []int) bool {
	k := 0
	for _, d := range dims {
		if d > 1 {
			k++
		}
	}
	return k > 1
}

// swingTorus builds Swing over all dimensions of Layout.Dims at once, as on
// a multidimensional torus in De Sensi et al. (NSDI 2024): the steps cycle
// through the dimensions, step t taking the next of dimension d's lg q_d
// Swing steps (partner swingPeer along d), so that consecutive steps use
// different dimensions' links and every partner is at most |rho| hops
// away along one dimension.
//
// Each dimension d runs on its first q_d = pow2Floor(Dims[d]) coordinates;
// a rank whose coordinate c_d >= q_d (and c_e < q_e for e < d) first folds
// its buffer onto the rank at c_d - q_d, after the ranks that fold onto it
// in earlier dimensions have, and gets the result back last. The core
// grid of prod q_d = 2^T ranks then reduce-scatters over 2^T blocks, Rabenseifner-style:
// a rank's block index takes, most significant first, the bit that each
// step fixes (the dimension's swingSlots bit of that step), so that after
// step t a rank owns an aligned run of 2^(T-t-1) blocks, the half of the
// run it shared with its partner on its own side. The all-gather replays
// the steps backwards. Tags: phase<<28 | t*C + chunk (t the global step;
// two ranks meet at most once in the folds and once per step).
func (b *builder) swingTorus() {
	l := b.p.Layout
	dims, n := l.Dims, b.p.Count
	idx := b.p.Rank
	if l.Grid != nil {
		idx = position(l.Grid, b.p.Rank)
	}
	nd := len(dims)
	c, q, stride := make([]int, nd), make([]int, nd), make([]int, nd)
	s := 1
	for d, k := range dims {
		stride[d], c[d], q[d] = s, idx/s%k, pow2Floor(k)
		s *= k
	}
	rankAt := func(d, x int) int { // the rank at c with c[d] = x
		i := idx + (x-c[d])*stride[d]
		if l.Grid != nil {
			return l.Grid[i]
		}
		return i
	}
	src := In
	if b.p.InPlace {
		src = Out
	}
	all := func(buf Buf) Region { return Region{buf, 0, n} }
	// Folds: receive from the extras of each dimension up to the one in
	// which this rank is an extra itself, if any.
	var extras []int // ranks folded onto this one, in order
	for d := range nd {
		if c[d] >= q[d] {
			peer := rankAt(d, c[d]-q[d])
			b.stage(dimLeg(peer, all(src), phaseDimFold, 0, false), nil, nil, nil)
			b.stage(nil, dimLeg(peer, all(Out), phaseDimUnfold, 0, false), nil, nil)
			b.unfold(extras)
			return
		}
		if c[d]+q[d] < dims[d] {
			e := rankAt(d, c[d]+q[d])
			var fill *Region
			if src == In {
				f := all(In)
				fill = &f
			}
			b.stage(nil, dimLeg(e, all(Out), phaseDimFold, 0, true), fill, nil)
			src = Out
			extras = append(extras, e)
		}
	}
	// The step sequence: round r takes step r of every dimension that has
	// one.
	type swingStep struct{ d, j int }
	var seq []swingStep
	lg := make([]int, nd)
	slots := make([][]int, nd)
	for d := range nd {
		for 1<<lg[d] < q[d] {
			lg[d]++
		}
		if q[d] > 1 {
			sl, err := swingSlots(q[d])
			if err != nil {
				b.fail(err)
				return
			}
			slots[d] = sl
		}
	}
	for r := 0; len(seq) < sumInts(lg); r++ {
		for d := range nd {
			if r < lg[d] {
				seq = append(seq, swingStep{d, r})
			}
		}
	}
	T := len(seq)
	P := 1 << T
	// block returns the block index of the core rank at coordinates x.
	block := func(x []int) int {
		v := 0
		for _, st := range seq {
			v = v<<1 | slots[st.d][x[st.d]]>>(lg[st.d]-1-st.j)&1
		}
		return v
	}
	span := func(buf Buf, lo, w int) Region {
		o := blockOff(n, P, lo)
		return Region{buf, o, blockOff(n, P, lo+w) - o}
	}
	mine := block(c)
	peers := make([]int, T)
	theirs := make([]int, T)
	u := make([]int, nd)
	for t, st := range seq {
		copy(u, c)
		u[st.d] = swingPeer(c[st.d], st.j, q[st.d])
		peers[t], theirs[t] = rankAt(st.d, u[st.d]), block(u)
	}
	cn := int64(nchunks(n, b.chunk))
	from := src
	for t := range T {
		w := P >> (t + 1)
		keep, give := mine&^(w-1), theirs[t]&^(w-1)
		var fill *Region
		if from == In {
			f := span(In, keep, w)
			fill = &f
		}
		tag := int64(t) * cn
		b.stage(dimLeg(peers[t], span(from, give, w), phaseDimRS, tag, false),
			dimLeg(peers[t], span(Out, keep, w), phaseDimRS, tag, true), fill, nil)
		from = Out
	}
	if T == 0 && from == In {
		b.copyStep(all(In), all(Out))
	}
	for t := T - 1; t >= 0; t-- {
		w := P >> (t + 1)
		tag := int64(t) * cn
		b.stage(dimLeg(peers[t], span(Out, mine&^(w-1), w), phaseDimAG, tag, false),
			dimLeg(peers[t], span(Out, theirs[t]&^(w-1), w), phaseDimAG, tag, false), nil, nil)
	}
	b.unfold(extras)
}

// unfold sends the result to the ranks that folded onto this one, the
// last folded first.
func (b *builder) unfold(extras []int) {
	for i := len(extras) - 1; i >= 0; i-- {
		b.stage(dimLeg(extras[i], Region{Out, 0, b.p.Count}, phaseDimUnfold, 0, false), nil, nil, nil)
	}
}

func sumInts(a []int) int {
	s := 0
	for _, x := range a {
		s += x
	}
	return s
}
