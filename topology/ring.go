package topology

import (
	"errors"
	"fmt"
	"sort"
)

// ErrNoCycle says that a network has no cycle through all its nodes with
// one link per step (a mesh with an odd number of nodes, or a 1-D mesh of
// more than two nodes).
var ErrNoCycle = errors.New("topology: no Hamiltonian cycle")

// NodeCycle returns every node of t once, in an order in which each node
// is one link from the next and the last one link from the first: a
// Hamiltonian cycle (for two nodes, the same link both ways).
//
//   - Torus and Tofu-D: on a k-ary n-cube (all sizes equal) the modular
//     k-ary Gray code, g_j = (d_j - d_{j+1}) mod k. With mixed sizes, a
//     shifted-block generalisation of it: the cycle of the faster
//     dimensions is walked once per coordinate of the slower dimension,
//     each block starting where the previous one ended, rotating forward
//     or backward so that the shifts cancel (an even size alternates,
//     odd x odd rotates forward min-size times then alternates). Every
//     size works, odd included.
//   - Mesh: boustrophedon through an even dimension with a return column;
//     ErrNoCycle when the node count is odd or the mesh is a line of more
//     than two nodes.
//   - Dragonfly: group by group (groups in index order), entering each
//     group at the router that the previous group's global link reaches and
//     leaving from the router with the global link to the next group, the
//     nodes of each router consecutive: the cycle crosses between groups
//     exactly Groups times, each time over one global link, and every step
//     inside a group is one local link or none.
//   - Flat of N nodes: 0..N-1. A Flat of any size has no node list: error.
func NodeCycle(t Topology) ([]int, error) {
	switch t := t.(type) {
	case *GridNet:
		return t.cycle(identity(len(t.dims)))
	case *Dragonfly:
		return t.cycle(), nil
	case Flat:
		if t.N == 0 {
			return nil, fmt.Errorf("topology: %s: node cycle of a flat network of any size", t.Name())
		}
		return identity(t.N), nil
	}
	return nil, fmt.Errorf("topology: %s: no node cycle for a network of type %T (only grids, dragonflies and flat networks have one)", t.Name(), t)
}

func identity(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// cycle returns a Hamiltonian cycle of g; order lists the dimensions from
// the slowest-changing to the fastest.
func (g *GridNet) cycle(order []int) ([]int, error) {
	if !g.wrap {
		return g.meshCycle(order)
	}
	k := g.dims[order[0]]
	cube := true
	for _, d := range order {
		cube = cube && g.dims[d] == k
	}
	if cube && len(order) > 1 {
		return g.modularGray(order), nil
	}
	c := []int{0}
	for i := len(order) - 1; i >= 0; i-- {
		d := order[i]
		ring := make([]int, g.dims[d])
		for x := range ring {
			ring[x] = x * g.stride[d]
		}
		c = combine(ring, c)
	}
	return c, nil
}

// modularGray is the modular k-ary Gray code on a k-ary n-cube.
func (g *GridNet) modularGray(order []int) []int {
	n, k := len(order), g.dims[order[0]]
	out := make([]int, 0, g.n)
	d := make([]int, n+1) // little-endian counter digits, d[n] = 0
	for range g.n {
		node := 0
		for j := range n {
			gj := ((d[j]-d[j+1])%k + k) % k
			node += gj * g.stride[order[n-1-j]]
		}
		out = append(out, node)
		for j := 0; j < n; j++ {
			d[j]++
			if d[j] < k {
				break
			}
			d[j] = 0
		}
	}
	return out
}

// combine returns a Hamiltonian cycle of the product of two cycles a and
// b (vertex offsets that add): blocks of one cycle walked once per vertex
// of the other, rotating so the block shifts cancel.
func combine(a, b []int) []int {
	switch {
	case len(a) == 1:
		return offset(b, a[0])
	case len(b) == 1:
		return offset(a, b[0])
	}
	top, low := a, b
	switch {
	case len(a)%2 == 0:
	case len(b)%2 == 0:
		top, low = b, a
	case len(a) < len(b):
		top, low = b, a
	}
	k, m := len(top), len(low)
	out := make([]int, 0, k*m)
	s := 0
	for blk := range k {
		// k even: alternate forward and backward (shifts -1, +1, ...).
		// k odd (then m is odd and k >= m): m forward blocks shift by -m,
		// the even number left alternate.
		dir := 1
		if k%2 == 0 {
			if blk%2 == 1 {
				dir = -1
			}
		} else if blk >= m && (blk-m)%2 == 1 {
			dir = -1
		}
		for j := range m {
			out = append(out, top[blk]+low[((s+dir*j)%m+m)%m])
		}
		s = ((s-dir)%m + m) % m
	}
	return out
}

func offset(c []int, off int) []int {
	out := make([]int, len(c))
	for i, x := range c {
		out[i] = x + off
	}
	return out
}

// snake is a Hamiltonian path of the box over the dimensions in order
// (slowest first): the reflected mixed-radix Gray code (boustrophedon).
func (g *GridNet) snake(order []int) []int {
	p := []int{0}
	for i := len(order) - 1; i >= 0; i-- {
		d := order[i]
		out := make([]int, 0, len(p)*g.dims[d])
		for x := range g.dims[d] {
			for j := range p {
				if x%2 == 1 {
					j = len(p) - 1 - j
				}
				out = append(out, x*g.stride[d]+p[j])
			}
		}
		p = out
	}
	return p
}

func (g *GridNet) meshCycle(order []int) ([]int, error) {
	if g.n == 1 {
		return []int{0}, nil
	}
	even := -1
	for i, d := range order {
		if g.dims[d]%2 == 0 {
			even = i
			break
		}
	}
	if even < 0 {
		return nil, fmt.Errorf("topology: %s: %w: %d nodes, an odd number, on a mesh", g.Name(), ErrNoCycle, g.n)
	}
	e := order[even]
	rest := append(append([]int(nil), order[:even]...), order[even+1:]...)
	path := g.snake(rest)
	k, m := g.dims[e], len(path)
	if m == 1 {
		if k == 2 {
			return []int{0, g.stride[e]}, nil
		}
		return nil, fmt.Errorf("topology: %s: %w: a line of %d nodes", g.Name(), ErrNoCycle, k)
	}
	out := make([]int, 0, g.n)
	row := func(r int) int { return r * g.stride[e] }
	for c := range m {
		out = append(out, row(0)+path[c])
	}
	for r := 1; r < k; r++ {
		for j := 1; j < m; j++ {
			c := j
			if r%2 == 1 {
				c = m - j
			}
			out = append(out, row(r)+path[c])
		}
	}
	for r := k - 1; r >= 1; r-- {
		out = append(out, row(r)+path[0])
	}
	return out, nil
}

// exitLane is the global lane group g leaves by towards group g+1 in the
// node cycle: lane 0, except on two groups, where the way back from group
// 1 takes lane 1 when there is one.
func (d *Dragonfly) exitLane(g int) int {
	if d.Groups == 2 && g == 1 && d.perPair > 1 {
		return 1
	}
	return 0
}

func (d *Dragonfly) cycle() []int {
	out := make([]int, 0, d.Nodes())
	for g := range d.Groups {
		entry, exit := -1, -1
		if d.Groups > 1 {
			prev := (g - 1 + d.Groups) % d.Groups
			next := (g + 1) % d.Groups
			entry = d.gateway(g, prev, d.exitLane(prev))
			exit = d.gateway(g, next, d.exitLane(g))
		}
		routers := make([]int, 0, d.Routers)
		if entry >= 0 {
			routers = append(routers, entry)
		}
		for r := g * d.Routers; r < (g+1)*d.Routers; r++ {
			if r != entry && r != exit {
				routers = append(routers, r)
			}
		}
		if exit >= 0 && exit != entry {
			routers = append(routers, exit)
		}
		for _, r := range routers {
			for k := range d.NodesPerRouter {
				out = append(out, r*d.NodesPerRouter+k)
			}
		}
	}
	return out
}

// NodePath returns every node of t once, each one link from the next (not
// necessarily closing into a cycle): NodeCycle where one exists; on a mesh
// without one (every side odd), a path whose ends are two links apart
// (nearCycle), or on a line of more than two nodes the snake
// (boustrophedon) order, whose ends are the line's ends.
func NodePath(t Topology) ([]int, error) {
	c, err := NodeCycle(t)
	if errors.Is(err, ErrNoCycle) {
		if g, ok := t.(*GridNet); ok {
			if p, ok := g.nearCycle(); ok {
				return p, nil
			}
			return g.snake(identity(len(g.dims))), nil
		}
	}
	return c, err
}

// ringOver orders the ranks of p by their node's position in order (ranks
// on one node consecutive, by rank).
func ringOver(order []int, p Placement) Ring {
	pos := make(map[int]int, len(order))
	for i, n := range order {
		pos[n] = i
	}
	ranks := identity(len(p.Nodes))
	sort.SliceStable(ranks, func(i, j int) bool {
		return pos[p.Nodes[ranks[i]]] < pos[p.Nodes[ranks[j]]]
	})
	return Ring{Ranks: ranks}
}

// EmbedRing orders the ranks of placement p along t's NodeCycle: ranks are
// sorted by their node's position in the cycle, ranks on one node
// consecutive in rank order. When p occupies every node, every step of the
// ring is one link (or none, between ranks on one node). On a mesh with
// no Hamiltonian cycle it falls back to NodePath: every step is one link
// except the step that closes the ring, which is two (on a line of more
// than two nodes, the line's length less one). On a Flat of any size the ranks
// are ordered by node index.
func EmbedRing(t Topology, p Placement) (Ring, error) {
	if err := p.Validate(t); err != nil {
		return Ring{}, err
	}
	if f, ok := t.(Flat); ok && f.N == 0 {
		order := append([]int(nil), p.Nodes...)
		sort.Ints(order)
		return ringOver(order, p), nil
	}
	order, err := NodePath(t)
	if err != nil {
		return Ring{}, err
	}
	return ringOver(order, p), nil
}

// EmbedRings returns up to limit rings over placement p whose node cycles
// are pairwise edge-disjoint: no directed link is the step of two rings.
// Two candidate lists are tried and the one that gives more rings wins
// (the first on a tie):
//
//  1. the NodeCycle, its reverse, then on a torus or Tofu-D the cycles
//     built with the dimension order rotated by 1, 2, ... and their
//     reverses;
//  2. on a torus or Tofu-D, DisjointCycles' Hamiltonian cycles and their
//     reverses (up to two rings per dimension of size >= 3: 4 on a 2-D
//     torus, 2n on an n-D one when the search completes), then list 1.
//
// A candidate is kept only if its links (from the real routing of every
// step) are disjoint from those of the rings kept so far.
//
// Guarantee: the rings returned are pairwise edge-disjoint when p puts one
// rank on every node (with several ranks per node the extra steps use no
// link), and every step of every ring is one link. A node's Inject and
// Eject links, which every ring uses at every dragonfly node, are not
// counted. On a torus, Tofu-D or dragonfly of three or more nodes there are
// at least two (the cycle and its reverse). The first ring is EmbedRing's
// when list 1 wins, else another one-hop ring.
func EmbedRings(t Topology, p Placement, limit int) ([]Ring, error) {
	first, err := EmbedRing(t, p)
	if err != nil || limit <= 1 {
		return []Ring{first}, err
	}
	base, err := NodePath(t)
	if err != nil {
		return []Ring{first}, nil
	}
	cands := [][]int{base, reversed(base)}
	var decomposed [][]int
	if g, ok := t.(*GridNet); ok && g.wrap {
		n := len(g.dims)
		for r := 1; r < n; r++ {
			order := make([]int, n)
			for i := range order {
				order[i] = (i + r) % n
			}
			c, err := g.cycle(order)
			if err != nil {
				continue
			}
			cands = append(cands, c, reversed(c))
		}
		for _, c := range DisjointCycles(g) {
			decomposed = append(decomposed, c, reversed(c))
		}
	}
	rings := disjointRings(t, p, cands, limit)
	if len(decomposed) > 0 {
		if alt := disjointRings(t, p, append(decomposed, cands...), limit); len(alt) > len(rings) {
			rings = alt
		}
	}
	return rings, nil
}

// disjointRings keeps the candidate node cycles, in order, whose links are
// disjoint from those kept before, up to limit, as rings over p.
func disjointRings(t Topology, p Placement, cands [][]int, limit int) []Ring {
	used := make(map[Link]bool)
	rings := []Ring{}
	for _, c := range cands {
		if len(rings) == limit {
			break
		}
		links := cycleLinks(t, c)
		ok := true
		for _, l := range links {
			if l.Kind != Inject && l.Kind != Eject && used[l] {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		for _, l := range links {
			used[l] = true
		}
		rings = append(rings, ringOver(c, p))
	}
	return rings
}

func reversed(c []int) []int {
	n := len(c)
	out := make([]int, n)
	for i := range n {
		out[i] = c[(n-i)%n]
	}
	return out
}

// cycleLinks returns the directed links of every step of the node cycle c,
// the closing step included.
func cycleLinks(t Topology, c []int) []Link {
	var out []Link
	for i, a := range c {
		out = append(out, t.Route(a, c[(i+1)%len(c)])...)
	}
	return out
}
