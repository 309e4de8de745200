package topology

// maxDecomposeWork bounds the networks DisjointCycles decomposes: nodes
// times cycles sought (16x16x16 takes about 0.4 s on one core); larger ones
// (all of Fugaku) get the cycles of EmbedRings' other candidates.
const maxDecomposeWork = 1 << 14

// maxKickWork bounds DisjointCycles' random passes: their number times
// the node count.
const maxKickWork = 1 << 18

// restarts is how many seeds DisjointCycles tries.
const restarts = 8

// DisjointCycles returns Hamiltonian cycles of the torus or Tofu-D g that
// share no link (as undirected links: a cycle and the reverse of another
// never meet either), at most one per dimension of size 3 or more. Each
// cycle, run forwards and backwards, is two rings that use every port of
// the dimensions it covers: on an n-D torus with every size at least 3,
// when all n cycles are found, 2n rings use every link in both directions
// (Bae & Bose, IEEE TC 2003, show n edge-disjoint Hamiltonian cycles exist
// for the k-ary n-cubes; Kotzig for any product of two cycles).
//
// Construction: start from one 2-factor per dimension d of size >= 3 (all
// the rings along d), leave the links of dimensions of size 2 spare, and
// swap owners on unit squares: two parallel links of a square owned by
// factor X (or spare) and the other two owned by factor Y (or spare) change
// places when that lowers the total number of cycles, X's and Y's. For
// each factor the swap joins two cycles (its two links were on different
// cycles), keeps one (one cycle, both links run the same way round) or
// splits one; each node's position on its cycle tells which in O(1). Passes
// over every square repeat until no swap helps; the factors that became
// single cycles are returned, in dimension order. The search is greedy, so
// it may stop short of one cycle per dimension; the tests check the result
// (every node once, one hop per step, no link twice) on a sweep of shapes
// and pin how many cycles each gets.
//
// It returns nil for a mesh, a network without a dimension of size 3 or
// more, or one whose nodes times dimensions of size >= 3 exceed 2^14
// (16x16x16 is the largest cube it takes).
func DisjointCycles(g *GridNet) [][]int {
	if !g.wrap {
		return nil
	}
	nd := len(g.dims)
	var factors []int // dimensions that start a factor
	for d, k := range g.dims {
		if k >= 3 {
			factors = append(factors, d)
		}
	}
	if len(factors) == 0 || g.n*len(factors) > maxDecomposeWork {
		return nil
	}
	const spare = -1
	step := func(v, d, s int) int { // v moved by s along d, wrapping
		c := g.coord(v, d)
		nc := ((c+s)%g.dims[d] + g.dims[d]) % g.dims[d]
		return v + (nc-c)*g.stride[d]
	}
	link := func(v, d int) int { // index of the link v -> v+1 along d
		if g.dims[d] == 2 && g.coord(v, d) == 1 {
			v = step(v, d, 1)
		}
		return v*nd + d
	}
	// owner[v*nd+d] is the factor owning the link from v to v+1 along d
	// (for a size-2 dimension only v with coordinate 0 names the link).
	// Several attempts from the same start with different random choices;
	// the best (most single-cycle factors) wins.
	best, nf := -1, len(factors)
	var bestOwner []int
	for seed := uint64(0); seed < restarts && best < nf; seed++ {
		owner := make([]int, g.n*nd)
		for i := range owner {
			owner[i] = spare
		}
		// cyc[f][v] and pos[f][v]: the cycle of factor f through v and v's
		// position on it, in the direction of the walk that labelled it.

		cyc, pos := make([][]int, nf), make([][]int, nf)
		var clen []int // length of each cycle id
		neighbours := func(f, v int, buf []int) []int {
			buf = buf[:0]
			for d := range nd {
				if g.dims[d] < 2 {
					continue
				}
				if owner[link(v, d)] == f {
					buf = append(buf, step(v, d, 1))
				}
				if g.dims[d] > 2 && owner[link(step(v, d, -1), d)] == f {
					buf = append(buf, step(v, d, -1))
				}
			}
			return buf
		}
		var buf []int
		label := func(f, from int) { // walks the cycle of f through from
			id := len(clen)
			prev, v, i := -1, from, 0
			for {
				cyc[f][v], pos[f][v] = id, i
				i++
				buf = neighbours(f, v, buf)
				u := buf[0]
				if u == prev {
					u = buf[1]
				}
				if u == from {
					break
				}
				prev, v = v, u
			}
			clen = append(clen, i)
		}
		for f, d := range factors {
			for v := range g.n {
				owner[link(v, d)] = f
			}
		}
		if seed%2 == 1 && nf == 2 && nd == 2 {
			// Odd seeds start the first factor from the node cycle and give
			// the rest of its links to the second: a different parity class
			// of the swaps (each swap moves links two at a time).
			c, _ := g.cycle(identity(nd))
			for i := range owner {
				if owner[i] == 0 {
					owner[i] = 1
				}
			}
			for i, u := range c {
				w := c[(i+1)%len(c)]
				for d := range nd {
					if w == step(u, d, 1) {
						owner[link(u, d)] = 0
						break
					} else if w == step(u, d, -1) {
						owner[link(w, d)] = 0
						break
					}
				}
			}
		}
		for f := range factors {
			cyc[f], pos[f] = make([]int, g.n), make([]int, g.n)
			for v := range cyc[f] {
				cyc[f][v] = -1
			}
			for v := range g.n {
				if cyc[f][v] < 0 {
					label(f, v)
				}
			}
		}
		// delta is the change in factor f's number of cycles when it gives up
		// its links p1-q1 and p2-q2 (parallel sides of a square) for p1-p2 and
		// q1-q2: -1 when they were on two cycles (now joined), 0 when on one
		// cycle run the same way round (still one), +1 when run opposite ways
		// (split).
		delta := func(f, p1, q1, p2, q2 int) int {
			if f == spare {
				return 0
			}
			c, cp := cyc[f], pos[f]
			if c[p1] != c[p2] {
				return -1
			}
			L := clen[c[p1]]
			fwd := func(a, b int) bool { return (cp[a]+1)%L == cp[b] }
			if fwd(p1, q1) == fwd(p2, q2) {
				return 0
			}
			return 1
		}
		rng := splitmix64(uint64(g.n) + seed<<32)
		stepPrime := 1 // visit order: v = i*stepPrime + off, a permutation
		for _, q := range []int{7919, 104729, 1299709} {
			if g.n%q != 0 {
				stepPrime = q
				break
			}
		}
		pass := func(neutral bool) bool {
			changed := false
			off := int(rng.next() % uint64(g.n)) // start the pass anywhere
			for i := range g.n {
				v := (i*stepPrime + off) % g.n
				for a := range nd {
					if g.dims[a] < 2 {
						continue
					}
					for b := a + 1; b < nd; b++ {
						if g.dims[b] < 2 {
							continue
						}
						va, vb := step(v, a, 1), step(v, b, 1)
						vab := step(va, b, 1)
						a1, a2 := link(v, a), link(vb, a) // parallel along a
						b1, b2 := link(v, b), link(va, b) // parallel along b
						x, y := owner[a1], owner[b1]
						if x != owner[a2] || y != owner[b2] || x == y {
							continue
						}
						// x gives up v-va, vb-vab for v-vb, va-vab; y the reverse.
						dx, dy := delta(x, v, va, vb, vab), delta(y, v, vb, va, vab)
						switch {
						case dx+dy < 0:
						case neutral && dx+dy == 0 && rng.next()%4 == 0:
						default:
							continue
						}
						owner[a1], owner[a2], owner[b1], owner[b2] = y, y, x, x
						for _, f := range [2]int{x, y} {
							if f == spare {
								continue
							}
							label(f, v)
							for _, u := range [3]int{va, vb, vab} {
								if cyc[f][u] != cyc[f][v] { // split: the other part
									label(f, u)
								}
							}
						}
						changed = true
					}
				}
			}
			return changed
		}
		// Improving passes until none helps; then, a few times, a pass that
		// also makes neutral swaps (each factor keeps its count) at random, a
		// fixed seed, to move out of a local minimum.
		singles := func() int { // factors that are one cycle
			k := 0
			for f := range factors {
				if clen[cyc[f][0]] == g.n {
					k++
				}
			}
			return k
		}
		for kicks := 0; ; kicks++ {
			for pass(false) {
			}
			if k := singles(); k > best {
				best = k
				bestOwner = append(bestOwner[:0], owner...)
			}
			if best == nf || kicks*g.n >= maxKickWork/restarts {
				break
			}
			pass(true)
		}
	}
	owner := bestOwner
	var out [][]int
	for f := range factors {
		if c := g.walkFactor(owner, f, link, step); c != nil {
			out = append(out, c)
		}
	}
	return out
}

// walkFactor returns factor f's links as one cycle from node 0, or nil when
// they form more than one.
func (g *GridNet) walkFactor(owner []int, f int, link func(v, d int) int, step func(v, d, s int) int) []int {
	nd := len(g.dims)
	next := func(v, prev int) int {
		for d := range nd {
			if g.dims[d] < 2 {
				continue
			}
			for _, s := range [2]int{1, -1} {
				u := step(v, d, s)
				l := link(v, d)
				if s < 0 {
					l = link(u, d)
				}
				if owner[l] == f && u != prev {
					return u
				}
				if g.dims[d] == 2 {
					break // one link
				}
			}
		}
		return -1
	}
	c := make([]int, 0, g.n)
	prev, v := -1, 0
	for {
		c = append(c, v)
		u := next(v, prev)
		if u < 0 || len(c) > g.n {
			return nil
		}
		if u == 0 {
			break
		}
		prev, v = v, u
	}
	if len(c) != g.n {
		return nil
	}
	return c
}
