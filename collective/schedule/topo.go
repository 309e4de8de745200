package schedule

import (
	"fmt"
	"slices"
)

// Layout says where ranks sit in the network, as plain data computed
// elsewhere (package topology, or by hand). Schedules read it and never
// write it; a Layout must not change once a Params points at it, so that
// every rank of a call, and every cached schedule, sees the same one. All
// fields are optional; each algorithm reads only the ones Needs names.
//
// Every rank of a call must pass an equal Layout (Validate compares them by
// content). Build checks the fields it reads and fails with ErrInvalid when
// they are malformed, and with ErrUnavailable when the algorithm needs a
// field that is missing.
type Layout struct {
	// Ring is an embedded ring: Ring[i] is the rank at position i, a
	// permutation of 0..Size-1. Ring schedules (every collective) send to
	// the next position instead of the next rank; Swing without Dims pairs
	// positions instead of ranks. nil means rank order.
	Ring []int
	// Rings are the rings MultiRing splits the buffer across, each a
	// permutation like Ring; at most MaxRings. Empty means {Ring} when Ring
	// is set.
	Rings [][]int
	// Dims is the shape of a rank grid on a torus, every entry >= 1, whose
	// product is Size (Torus, and Swing per dimension).
	Dims []int
	// Grid places ranks on the Dims grid: the rank at coordinates
	// (c0, c1, ..., ck) is Grid[c0 + d0*(c1 + d1*(c2 + ...))], dimension 0
	// varying fastest. nil means the identity (rank = grid index).
	Grid []int
	// Groups are dragonfly groups (Hierarchical): a partition of
	// 0..Size-1 into non-empty lists, each in the ring order used within
	// the group. Groups may differ in size (see Hierarchical).
	Groups [][]int
	// Trees are the two spanning trees of the Tree all-reduce, as parent
	// arrays: Trees[t][r] is rank r's parent in tree t, -1 at the root
	// (topology.DoubleTree keeps each group's ranks a connected subtree).
	// Each tree carries half the buffer. nil means NCCL's double binary
	// tree over rank numbers. Only AllReduce reads it: Broadcast and
	// Reduce root their trees at the call's root.
	Trees [][]int
}

// MaxRings is the largest number of rings MultiRing accepts (the ring index
// takes the top 4 bits of a tag).
const MaxRings = 16

// Needs returns the Layout fields algorithm a requires, in words, or "" when
// it runs without a Layout (possibly using one when given).
func Needs(a Algo) string {
	switch a {
	case Torus:
		return "Layout.Dims"
	case Hierarchical:
		return "Layout.Groups"
	case MultiRing:
		return "Layout.Rings (or Layout.Ring)"
	}
	return ""
}

// AvailableOn returns the algorithms Build accepts for c given l: those of
// Available(c) whose Needs l provides (nil l: the algorithms that need no
// Layout). It does not check that l is well formed. The caller owns the
// returned slice.
func AvailableOn(c Coll, l *Layout) []Algo {
	var out []Algo
	for _, a := range Available(c) {
		if missing(a, l) == "" {
			out = append(out, a)
		}
	}
	return out
}

// missing returns what a needs that l lacks, or "".
func missing(a Algo, l *Layout) string {
	switch a {
	case Torus:
		if l == nil || len(l.Dims) == 0 {
			return Needs(a)
		}
	case Hierarchical:
		if l == nil || len(l.Groups) == 0 {
			return Needs(a)
		}
	case MultiRing:
		if l == nil || len(l.Rings) == 0 && l.Ring == nil {
			return Needs(a)
		}
	}
	return ""
}

// checkLayout checks the fields of p.Layout that p.Algo reads.
func checkLayout(p Params) error {
	if m := missing(p.Algo, p.Layout); m != "" {
		return fmt.Errorf("%w: %v/%v needs %s", ErrUnavailable, p.Coll, p.Algo, m)
	}
	l := p.Layout
	if l == nil {
		return nil
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %v/%v layout: %s", ErrInvalid, p.Coll, p.Algo, fmt.Sprintf(format, a...))
	}
	switch p.Algo {
	case Ring:
		if l.Ring != nil && !isPerm(l.Ring, p.Size) {
			return bad("Ring %v is not a permutation of %d ranks", short(l.Ring), p.Size)
		}
	case MultiRing:
		rings := ringsOf(l)
		if len(rings) > MaxRings {
			return bad("%d rings; at most %d", len(rings), MaxRings)
		}
		for i, r := range rings {
			if !isPerm(r, p.Size) {
				return bad("Rings[%d] %v is not a permutation of %d ranks", i, short(r), p.Size)
			}
		}
	case Swing:
		if len(l.Dims) == 0 {
			if l.Ring != nil && !isPerm(l.Ring, p.Size) {
				return bad("Ring %v is not a permutation of %d ranks", short(l.Ring), p.Size)
			}
			return nil
		}
		fallthrough
	case Torus:
		prod := 1
		for _, d := range l.Dims {
			if d < 1 || d > p.Size {
				return bad("Dims %v: entry %d out of range [1,%d]", short(l.Dims), d, p.Size)
			}
			prod *= d
			if prod > p.Size {
				break
			}
		}
		if prod != p.Size {
			return bad("Dims %v do not multiply to size %d", short(l.Dims), p.Size)
		}
		if len(l.Dims) > 64 {
			return bad("%d dims; at most 64", len(l.Dims))
		}
		if l.Grid != nil && !isPerm(l.Grid, p.Size) {
			return bad("Grid %v is not a permutation of %d ranks", short(l.Grid), p.Size)
		}
	case Tree:
		if p.Coll == AllReduce && l.Trees != nil {
			if err := checkTreeParents(l.Trees, p.Size); err != nil {
				return bad("%v", err)
			}
		}
	case Hierarchical:
		seen := make([]bool, p.Size)
		n := 0
		for i, g := range l.Groups {
			if len(g) == 0 {
				return bad("group %d is empty", i)
			}
			for _, r := range g {
				if r < 0 || r >= p.Size || seen[r] {
					return bad("group %d: rank %d out of range or in two groups", i, r)
				}
				seen[r] = true
				n++
			}
		}
		if n != p.Size {
			return bad("groups hold %d of %d ranks", n, p.Size)
		}
	}
	return nil
}

// ringsOf returns MultiRing's rings.
func ringsOf(l *Layout) [][]int {
	if len(l.Rings) > 0 {
		return l.Rings
	}
	return [][]int{l.Ring}
}

// short abbreviates a long list in error messages.
func short(s []int) []int {
	if len(s) > 16 {
		return s[:16]
	}
	return s
}

func isPerm(s []int, n int) bool {
	if len(s) != n {
		return false
	}
	seen := make([]bool, n)
	for _, v := range s {
		if v < 0 || v >= n || seen[v] {
			return false
		}
		seen[v] = true
	}
	return true
}

// position returns the position of rank r in permutation s.
func position(s []int, r int) int {
	return slices.Index(s, r)
}

// equalLayouts compares two layouts by content (nil equals nil only).
func equalLayouts(a, b *Layout) bool {
	if a == b {
		return true
	}
	if a == nil || b == nil {
		return false
	}
	eq2 := func(x, y [][]int) bool {
		return slices.EqualFunc(x, y, func(u, v []int) bool { return slices.Equal(u, v) })
	}
	return slices.Equal(a.Ring, b.Ring) && (a.Ring == nil) == (b.Ring == nil) &&
		eq2(a.Rings, b.Rings) && slices.Equal(a.Dims, b.Dims) &&
		slices.Equal(a.Grid, b.Grid) && (a.Grid == nil) == (b.Grid == nil) && eq2(a.Groups, b.Groups) &&
		eq2(a.Trees, b.Trees)
}

// checkTreeParents checks that trees are two spanning trees of size ranks given
// as parent arrays: one root each, every rank reaching it.
func checkTreeParents(trees [][]int, size int) error {
	if len(trees) != 2 {
		return fmt.Errorf("Trees has %d trees; want 2", len(trees))
	}
	for t, par := range trees {
		if len(par) != size {
			return fmt.Errorf("Trees[%d] has %d parents; want %d", t, len(par), size)
		}
		roots := 0
		for r, u := range par {
			if u < -1 || u >= size || u == r {
				return fmt.Errorf("Trees[%d]: rank %d has parent %d", t, r, u)
			}
			if u == -1 {
				roots++
			}
		}
		if roots != 1 {
			return fmt.Errorf("Trees[%d] has %d roots; want 1", t, roots)
		}
		for r := range par {
			x := r
			for steps := 0; par[x] >= 0; steps++ {
				if steps > size {
					return fmt.Errorf("Trees[%d]: rank %d is on a cycle", t, r)
				}
				x = par[x]
			}
		}
	}
	return nil
}
