package topology

import (
	"fmt"
	"strconv"
	"strings"
)

// GridNet is a torus, a mesh or a Tofu-D network: nodes at the points of a
// box D1 x ... x Dn, each linked to its neighbours ±1 along every dimension
// (with wrap-around on a torus and on Tofu-D). A dimension of size 2 has a
// single link between its two nodes (each direction one Link) whether it
// wraps or not; a dimension of size 1 has none.
//
// Tofu-D ("tofu:XxYxZ") is modelled as the 6-D torus X x Y x Z x A x B x C
// with A = 2, B = 3, C = 2: X, Y, Z are tori, B is a 3-ring, and A and C,
// of size 2, have one link each, which makes the 12-node A,B,C unit a
// 2 x 3 x 2 mesh/torus as on the real machine (Ajima et al., Cluster 2018).
// The unit is the node's Group, and its nodes have consecutive indices.
//
// Routing is dimension order (dimension 0 first). On a wrapped dimension a
// flow goes the shorter way round; when both ways are equally long (even
// size, distance size/2) it goes the positive way (increasing coordinate).
// On a mesh it goes straight towards the destination.
//
// A GridNet is immutable; its methods may be called concurrently.
type GridNet struct {
	kind   string // torus, mesh or tofu
	dims   []int
	stride []int
	wrap   bool
	n      int
}

var _ Topology = (*GridNet)(nil)

// NewTorus returns the torus with the given dimension sizes.
func NewTorus(dims ...int) (*GridNet, error) {
	return newGrid("", "torus", append([]int(nil), dims...), true, nil)
}

// NewMesh returns the mesh (no wrap-around) with the given dimension sizes.
func NewMesh(dims ...int) (*GridNet, error) {
	return newGrid("", "mesh", append([]int(nil), dims...), false, nil)
}

func newGrid(spec, kind string, dims []int, wrap bool, bad func(part, reason string) error) (*GridNet, error) {
	if bad == nil {
		bad = func(part, reason string) error {
			return &SpecError{Spec: spec, Part: part, Reason: reason}
		}
	}
	if len(dims) == 0 || len(dims) > maxDims+3 {
		return nil, bad(joinDims(dims), fmt.Sprintf("want 1 to %d dimensions", maxDims))
	}
	n := 1
	for _, d := range dims {
		if d < 1 {
			return nil, bad(strconv.Itoa(d), "dimension is not a positive integer")
		}
		if n > MaxNodes/d {
			return nil, bad(joinDims(dims), fmt.Sprintf("more than %d nodes", MaxNodes))
		}
		n *= d
	}
	g := &GridNet{kind: kind, dims: dims, stride: make([]int, len(dims)), wrap: wrap, n: n}
	s := 1
	for i := len(dims) - 1; i >= 0; i-- {
		g.stride[i] = s
		s *= dims[i]
	}
	return g, nil
}

// Name implements Topology.
func (g *GridNet) Name() string {
	dims := g.dims
	if g.kind == "tofu" {
		dims = dims[:3]
	}
	return g.kind + ":" + joinDims(dims)
}

func joinDims(dims []int) string {
	parts := make([]string, len(dims))
	for i, d := range dims {
		parts[i] = strconv.Itoa(d)
	}
	return strings.Join(parts, "x")
}

// Nodes implements Topology.
func (g *GridNet) Nodes() int { return g.n }

// Shape implements Topology: the dimension sizes (6 for Tofu-D:
// X, Y, Z, A, B, C).
func (g *GridNet) Shape() []int { return append([]int(nil), g.dims...) }

// Wraps reports whether the dimensions wrap around (torus, Tofu-D).
func (g *GridNet) Wraps() bool { return g.wrap }

func (g *GridNet) coord(n, i int) int { return n / g.stride[i] % g.dims[i] }

// step returns the signed number of unit moves along dimension i from
// coordinate a to coordinate b under the routing rule.
func (g *GridNet) step(i, a, b int) int {
	if !g.wrap {
		return b - a
	}
	k := g.dims[i]
	fwd := ((b-a)%k + k) % k
	if 2*fwd <= k {
		return fwd // ties (2*fwd == k) go the positive way
	}
	return fwd - k
}

// Hops implements Topology.
func (g *GridNet) Hops(a, b int) int {
	h := 0
	for i := range g.dims {
		s := g.step(i, g.coord(a, i), g.coord(b, i))
		if s < 0 {
			s = -s
		}
		h += s
	}
	return h
}

// Route implements Topology: dimension-order routing, see GridNet.
func (g *GridNet) Route(a, b int) []Link {
	var route []Link
	cur := a
	for i, k := range g.dims {
		ca := g.coord(cur, i)
		s := g.step(i, ca, g.coord(b, i))
		dir := 1
		if s < 0 {
			dir, s = -1, -s
		}
		for range s {
			nc := (ca + dir + k) % k
			next := cur + (nc-ca)*g.stride[i]
			route = append(route, Link{Kind: Grid, From: cur, To: next, Lane: i})
			cur, ca = next, nc
		}
	}
	return route
}

// Neighbors returns the nodes one link away from node n, each once.
func (g *GridNet) Neighbors(n int) []int {
	var out []int
	for i, k := range g.dims {
		c := g.coord(n, i)
		for _, d := range [2]int{-1, 1} {
			nc := c + d
			if g.wrap {
				nc = (nc + k) % k
			}
			if nc < 0 || nc >= k || nc == c {
				continue
			}
			m := n + (nc-c)*g.stride[i]
			if len(out) > 0 && out[len(out)-1] == m {
				continue // size 2: one link
			}
			out = append(out, m)
		}
	}
	return out
}

// Group implements Topology: the Tofu unit (X, Y, Z) on Tofu-D, the first
// coordinate on a torus or mesh of two or more dimensions, else 0.
func (g *GridNet) Group(n int) int {
	switch {
	case g.kind == "tofu":
		return n / 12
	case len(g.dims) >= 2:
		return n / g.stride[0]
	}
	return 0
}
