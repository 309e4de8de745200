package schedule

import "slices"

// btreeParent returns the parent of r in NCCL's binary tree over n ranks
// (ncclGetBtree): rank 0 is the root with the single child 2^k (the largest
// power of two below n); below it each rank with lowest set bit b has
// children r-b/2 and r+b/2 (when in range). It returns -1 for the root.
func btreeParent(n, r int) int {
	if r == 0 {
		return -1
	}
	bit := r & -r
	up := (r ^ bit) | (bit << 1)
	if up >= n {
		up = r ^ bit
	}
	return up
}

// dtree is a pair of spanning trees over ranks, each carrying half of the
// buffer.
type dtree struct {
	parent   [2][]int   // -1 at the root
	children [2][][]int // in increasing rank order
	depth    [2][]int   // 0 at the root
	// send is the time a rank sends chunk 0 up (chunk k goes at send+k);
	// at the root, the time chunk 0 is final. See timeUp.
	send [2][]int
	root [2]int
}

// secondParent returns the parent of r in the second tree of a double binary
// tree over n ranks (ncclGetDtree): the first tree mirrored (r -> n-1-r) when
// n is even, shifted by one (r -> r+1) when n is odd. Either way the leaves of
// one tree are interior in the other, except that for odd n rank 0 has
// children in both.
func secondParent(n, r int) int {
	if n%2 == 0 {
		u := btreeParent(n, n-1-r)
		if u < 0 {
			return -1
		}
		return n - 1 - u
	}
	u := btreeParent(n, mod(r-1, n))
	if u < 0 {
		return -1
	}
	return (u + 1) % n
}

// allReduceTrees returns NCCL's double binary tree over p ranks: tree 0
// rooted at rank 0, tree 1 at rank p-1 (p even) or 1 (p odd).
func allReduceTrees(p int) *dtree {
	var par [2][]int
	for t := range 2 {
		par[t] = make([]int, p)
	}
	for r := range p {
		par[0][r] = btreeParent(p, r)
		par[1][r] = secondParent(p, r)
	}
	return finishTrees(par)
}

// rootedTrees returns two trees over p ranks that are both rooted at root
// (Sanders, Speck & Träff): the root's only child in tree t is the root of
// tree t of the double binary tree over the other p-1 ranks, taken in ring
// order after the root.
func rootedTrees(p, root int) *dtree {
	m := p - 1
	rank := func(i int) int { return (i + 1 + root) % p }
	var par [2][]int
	for t := range 2 {
		par[t] = make([]int, p)
		par[t][root] = -1
	}
	for i := range m {
		u := [2]int{btreeParent(m, i), secondParent(m, i)}
		for t := range 2 {
			if u[t] < 0 {
				par[t][rank(i)] = root
			} else {
				par[t][rank(i)] = rank(u[t])
			}
		}
	}
	return finishTrees(par)
}

// finishTrees derives children, depths and send times from parent arrays.
func finishTrees(par [2][]int) *dtree {
	p := len(par[0])
	d := &dtree{parent: par}
	for t := range 2 {
		d.children[t] = make([][]int, p)
		d.depth[t] = make([]int, p)
		d.send[t] = make([]int, p)
		for r := range p {
			if u := par[t][r]; u >= 0 {
				d.children[t][u] = append(d.children[t][u], r)
			} else {
				d.root[t] = r
			}
		}
		var walk func(x, dep int)
		walk = func(x, dep int) {
			d.depth[t][x] = dep
			for _, c := range d.children[t][x] {
				walk(c, dep+1)
			}
		}
		walk(d.root[t], 0)
		d.send[t][d.root[t]] = d.timeUp(t, d.root[t])
	}
	return d
}

// timeUp sets the send times of x's children in tree t and returns the
// earliest time x can send chunk 0 up: a leaf at 0; otherwise one after its
// last child's send, the children (taken by earliest time, then rank) being
// given distinct times because a step may not hold two receives into one
// region. A child whose time moves later just holds its partial sum longer.
func (d *dtree) timeUp(t, x int) int {
	kids := d.children[t][x]
	if len(kids) == 0 {
		return 0
	}
	type kid struct{ rank, at int }
	ks := make([]kid, len(kids))
	for i, c := range kids {
		ks[i] = kid{c, d.timeUp(t, c)}
	}
	slices.SortFunc(ks, func(a, b kid) int {
		if a.at != b.at {
			return a.at - b.at
		}
		return a.rank - b.rank
	})
	last := -1
	for _, k := range ks {
		last = max(k.at, last+1)
		d.send[t][k.rank] = last
	}
	return last + 1
}

// timeline collects steps by global time: a message sent at time T is
// received in the receiver's step at time T. Since sends go out when a step
// starts, every step at time T can complete once every rank has finished its
// steps before T: schedules built on one timeline cannot deadlock. Empty
// times are dropped when the timeline is flushed.
type timeline []Step

func (tl *timeline) at(t int) *Step {
	for len(*tl) <= t {
		*tl = append(*tl, Step{})
	}
	return &(*tl)[t]
}

func (b *builder) flush(tl timeline) {
	for _, st := range tl {
		if len(st.Copies)+len(st.Sends)+len(st.Recvs) > 0 {
			b.steps = append(b.steps, st)
		}
	}
}

// treeTag is the tag of chunk k of tree t in phase 0 (up) or 1 (down). A
// pair of ranks is parent and child at most once per tree, so it is unique.
func (b *builder) treeTag(k, t, phase int) uint32 {
	return b.tag(4*int64(k)+int64(2*t+phase), tagLimit)
}

// tree builds the pipelined double binary tree schedules. Tree t carries
// half t of the buffer (the first half gets the odd element), cut into
// chunks. With s(x) the send time of rank x (see timeUp):
//
//   - up (AllReduce, Reduce): a rank sends chunk k to its parent at time
//     k+s(x), after reducing chunk k from each child c at time k+s(c) (the
//     child's send time; distinct among siblings) into its accumulator,
//     which it filled from In at the first of those times;
//   - down (AllReduce, Broadcast): the root sends chunk k at time k+D (D =
//     s(root), when its last reduction of chunk k is done, for AllReduce; 0
//     for Broadcast), and a rank at depth d receives it at k+D+d-1 and
//     forwards it at k+D+d.
//
// AllReduce runs on Layout.Trees when the layout has them (trees that keep
// each topology group a connected subtree, any shape), else on NCCL's
// double binary tree. Its final values are computed once, at the two
// roots, and only copied down, so all ranks agree bitwise; the association
// of each element depends on (Size, Count, Layout.Trees) only.
func (b *builder) tree() {
	p, r, n := b.p.Size, b.p.Rank, b.p.Count
	var d *dtree
	if l := b.p.Layout; b.p.Coll == AllReduce && l != nil && l.Trees != nil {
		d = finishTrees([2][]int{l.Trees[0], l.Trees[1]})
	} else if b.p.Coll == AllReduce {
		d = allReduceTrees(p)
	} else {
		d = rootedTrees(p, b.p.Root)
	}
	up := b.p.Coll != Broadcast
	down := b.p.Coll != Reduce
	h0 := (n + 1) / 2
	half := [2]Region{{Out, 0, h0}, {Out, h0, n - h0}}
	var tl timeline
	if b.p.Coll == Broadcast && r == b.p.Root {
		if c := b.copies(Region{In, 0, n}, Region{Out, 0, n}); c != nil {
			tl.at(0).Copies = c
		}
	}
	base := 0 // Scratch used by earlier trees (Reduce only)
	for t := range 2 {
		k := nchunks(half[t].N, b.chunk)
		if k == 0 {
			continue
		}
		if up {
			base += b.treeUp(&tl, d, t, half[t], k, base)
		}
		if down {
			off := 0
			if up {
				off = d.send[t][d.root[t]]
			}
			b.treeDown(&tl, d, t, half[t], k, off)
		}
	}
	b.flush(tl)
}

// treeUp adds rank r's reduce phase in tree t over region reg (of Out; k
// chunks) and returns the Scratch elements it used from base on.
func (b *builder) treeUp(tl *timeline, d *dtree, t int, reg Region, k, base int) int {
	r := b.p.Rank
	kids, par, at := d.children[t][r], d.parent[t][r], d.send[t][r]
	in := reg
	in.Buf = In
	if len(kids) == 0 {
		for i := range k {
			st := tl.at(i + at)
			st.Sends = append(st.Sends, Xfer{Peer: par, Tag: b.treeTag(i, t, 0), Region: chunkOf(in, i, b.chunk)})
		}
		return 0
	}
	first := d.send[t][kids[0]]
	for _, c := range kids {
		first = min(first, d.send[t][c])
	}
	// acc(i) is where chunk i accumulates: Out at AllReduce ranks and the
	// Reduce root; elsewhere Scratch, in rotating chunk slots when that is
	// less than the half: chunk i is filled at i+first and sent at i+at, so
	// at-first+1 slots let chunk i+slots be filled after chunk i left.
	used := 0
	acc := func(i int) Region {
		g := chunkOf(reg, i, b.chunk)
		if b.p.Coll == AllReduce || r == b.p.Root {
			return g
		}
		off := g.Off - reg.Off
		if slots := at - first + 1; b.chunk > 0 && k > slots {
			off = (i % slots) * b.chunk
		}
		g.Buf, g.Off = Scratch, base+off
		used = max(used, off+g.N)
		b.use(base + used)
		return g
	}
	for i := range k {
		g := acc(i)
		if f := chunkOf(in, i, b.chunk); !b.l.same(f, g) {
			st := tl.at(i + first)
			st.Copies = append(st.Copies, Copy{Src: f, Dst: g})
		}
		for _, c := range kids {
			st := tl.at(i + d.send[t][c])
			st.Recvs = append(st.Recvs, Xfer{Peer: c, Tag: b.treeTag(i, t, 0), Region: g, Reduce: true})
		}
		if par >= 0 {
			st := tl.at(i + at)
			st.Sends = append(st.Sends, Xfer{Peer: par, Tag: b.treeTag(i, t, 0), Region: g})
		}
	}
	return used
}

// treeDown adds rank r's broadcast phase in tree t over region reg of Out (k
// chunks), starting at time off at the root.
func (b *builder) treeDown(tl *timeline, d *dtree, t int, reg Region, k, off int) {
	r := b.p.Rank
	kids, par, dep := d.children[t][r], d.parent[t][r], d.depth[t][r]
	for i := range k {
		g := chunkOf(reg, i, b.chunk)
		src := g
		if par < 0 {
			if b.p.Coll == Broadcast {
				src.Buf = In // the root's In; Out is filled by the copy at time 0
			}
		} else {
			st := tl.at(i + off + dep - 1)
			st.Recvs = append(st.Recvs, Xfer{Peer: par, Tag: b.treeTag(i, t, 1), Region: g})
		}
		if len(kids) == 0 {
			continue
		}
		st := tl.at(i + off + dep)
		for _, c := range kids {
			st.Sends = append(st.Sends, Xfer{Peer: c, Tag: b.treeTag(i, t, 1), Region: src})
		}
	}
}
