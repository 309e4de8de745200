package schedule

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// simCase is one call of the test matrix.
type simCase struct {
	coll    Coll
	algo    Algo
	p, n    int
	chunk   int
	root    int
	inplace bool
	layout  *Layout
}

func (c simCase) String() string {
	s := fmt.Sprintf("%v/%v p=%d n=%d chunk=%d root=%d inplace=%v", c.coll, c.algo, c.p, c.n, c.chunk, c.root, c.inplace)
	if l := c.layout; l != nil {
		s += fmt.Sprintf(" layout{ring=%v rings=%v dims=%v grid=%v groups=%v}", l.Ring, l.Rings, l.Dims, l.Grid, l.Groups)
	}
	return s
}

func (c simCase) params(r int) Params {
	return Params{Coll: c.coll, Algo: c.algo, Rank: r, Size: c.p, Count: c.n, Root: c.root,
		ChunkElems: c.chunk, InPlace: c.inplace, Layout: c.layout}
}

// build returns every rank's schedule and params for c.
func (c simCase) build() ([]*Schedule, []Params, error) {
	scheds := make([]*Schedule, c.p)
	params := make([]Params, c.p)
	for r := range c.p {
		params[r] = c.params(r)
		s, err := Build(params[r])
		if err != nil {
			return nil, nil, err
		}
		scheds[r] = s
	}
	return scheds, params, nil
}

// inputs returns each rank's In contents, element i of rank r being
// val(r, i); a non-root Broadcast gets poison, which it must never read.
func inputs[T any](c simCase, val func(r, i int) T, poison T) [][]T {
	in := make([][]T, c.p)
	for r := range c.p {
		in[r] = make([]T, layoutOf(c.params(r)).in)
		for i := range in[r] {
			if c.coll == Broadcast && r != c.root {
				in[r][i] = poison
			} else {
				in[r][i] = val(r, i)
			}
		}
	}
	return in
}

// source describes element i of rank r's Out in the sequential reference:
// it is input idx of rank j, or the sum over all ranks of their input idx
// when j < 0. ok is false for ranks with no Out.
func source(c simCase, r int) (src func(i int) (j, idx int), ok bool) {
	n := c.n
	switch c.coll {
	case AllReduce:
		return func(i int) (int, int) { return -1, i }, true
	case Reduce:
		return func(i int) (int, int) { return -1, i }, r == c.root
	case Broadcast:
		return func(i int) (int, int) { return c.root, i }, true
	case AllGather:
		return func(i int) (int, int) { return i / n, i % n }, true
	case Gather:
		return func(i int) (int, int) { return i / n, i % n }, r == c.root
	case ReduceScatter:
		return func(i int) (int, int) { return -1, r*n + i }, true
	case AllToAll:
		return func(i int) (int, int) { return i / n, r*n + i%n }, true
	case Scatter:
		return func(i int) (int, int) { return c.root, r*n + i }, true
	}
	return nil, false
}

// symbols interns sum expressions: leaves are (rank, index) inputs, a node
// is the sum of two earlier ids with its operands sorted (a+b and b+a are
// the same bits for IEEE addition; (a+b)+c and a+(b+c) are not).
type symbols struct {
	width int // leaf id = rank*width + index
	base  int32
	nodes [][2]int32
	index map[uint64]int32
}

func newSymbols(p, width int) *symbols {
	return &symbols{width: width, base: int32(p * width), index: make(map[uint64]int32)}
}

func (s *symbols) leaf(r, i int) int32 { return int32(r*s.width + i) }

func (s *symbols) add(dst, src []int32) {
	for i, b := range src {
		a := dst[i]
		if a < 0 || b < 0 {
			dst[i] = -1
			continue
		}
		if a > b {
			a, b = b, a
		}
		k := uint64(a)<<32 | uint64(b)
		id, ok := s.index[k]
		if !ok {
			id = s.base + int32(len(s.nodes))
			s.nodes = append(s.nodes, [2]int32{a, b})
			s.index[k] = id
		}
		dst[i] = id
	}
}

// leaves appends the leaves of id to dst, in tree order.
func (s *symbols) leaves(dst [][2]int, id int32) [][2]int {
	if id < s.base {
		return append(dst, [2]int{int(id) / s.width, int(id) % s.width})
	}
	k := s.nodes[id-s.base]
	return s.leaves(s.leaves(dst, k[0]), k[1])
}

// checkSymbolic runs c over symbolic elements twice, with a random
// interleaving and early-posted receives, and in order without them, and
// checks the results against the reference: exactly the right inputs
// summed once each, the same association on every rank (AllReduce) and in
// every run.
func checkSymbolic(c simCase) error {
	scheds, params, err := c.build()
	if err != nil {
		return err
	}
	width := c.n * c.p
	sy := newSymbols(c.p, max(width, 1))
	in := inputs(c, func(r, i int) int32 { return sy.leaf(r, i) }, -1)
	var first [][]int32
	for run, o := range []simOptions{
		{rng: rand.New(rand.NewPCG(uint64(c.p), uint64(c.n)))},
		{strict: true},
	} {
		out, err := simulate(scheds, params, in, -1, sy.add, o)
		if err != nil {
			return err
		}
		if first == nil {
			first = out
		} else {
			for r := range out {
				if !slices.Equal(out[r], first[r]) {
					return fmt.Errorf("run %d: rank %d result differs from run 0 (not deterministic)", run, r)
				}
			}
		}
	}
	for r, o := range first {
		src, ok := source(c, r)
		if !ok {
			if len(o) != 0 {
				return fmt.Errorf("rank %d: Out has %d elements; want none", r, len(o))
			}
			continue
		}
		var got, want [][2]int
		for i, id := range o {
			if id < 0 {
				return fmt.Errorf("rank %d Out[%d] read unwritten memory", r, i)
			}
			got = sy.leaves(got[:0], id)
			want = want[:0]
			if j, idx := src(i); j >= 0 {
				want = append(want, [2]int{j, idx})
			} else {
				for j := range c.p {
					want = append(want, [2]int{j, idx})
				}
			}
			slices.SortFunc(got, cmpPair)
			if !slices.Equal(got, want) {
				return fmt.Errorf("rank %d Out[%d] = sum of %v; want %v", r, i, got, want)
			}
			if c.coll == AllReduce && id != first[0][i] {
				return fmt.Errorf("rank %d Out[%d] associates differently from rank 0 (%v vs %v)",
					r, i, sy.leaves(nil, id), sy.leaves(nil, first[0][i]))
			}
		}
	}
	return nil
}

func cmpPair(a, b [2]int) int {
	if a[0] != b[0] {
		return a[0] - b[0]
	}
	return a[1] - b[1]
}

// exactVal is an input whose sums over ranks are exact in float64 and tell
// every (rank, index) apart.
func exactVal(r, i int) float64 { return float64(r)*(1<<26) + float64(i) + 1 }

// exactSum is the sum over p ranks of exactVal(j, i).
func exactSum(p, i int) float64 {
	return float64(p*(p-1)/2)*(1<<26) + float64(p)*(float64(i)+1)
}

// wideVal is an input in ±[2^-40, 2^40), pseudo-random in (r, i), so that
// sums in different association orders differ in their low bits.
func wideVal(r, i int) float64 {
	h := uint64(r)<<32 ^ uint64(i)
	h = (h ^ h>>30) * 0xbf58476d1ce4e5b9 // splitmix64 finalizer
	h = (h ^ h>>27) * 0x94d049bb133111eb
	h ^= h >> 31
	m := float64(h>>11) / (1 << 53) // [0, 1)
	return (m - 0.5) * math.Ldexp(1, int(h%80)-39)
}

// pair carries two float64 channels through one simulation: exact
// integer-valued inputs checked against the reference, and inputs spanning
// many magnitudes, where association changes the bits, checked for bitwise
// agreement between ranks.
type pair [2]float64

func addPairs(dst, src []pair) {
	for i, v := range src {
		dst[i][0] += v[0]
		dst[i][1] += v[1]
	}
}

// checkFloat runs c over float64: every Out element must equal the
// sequential reference exactly. AllReduce runs over pairs (see pair), and
// every rank must also hold the same bits in the second channel; the other
// collectives run through Simulate.
func checkFloat(c simCase) error {
	scheds, params, err := c.build()
	if err != nil {
		return err
	}
	nan := math.NaN()
	var out [][]float64
	var wide [][]pair
	if c.coll == AllReduce {
		in := inputs(c, func(r, i int) pair { return pair{exactVal(r, i), wideVal(r, i)} }, pair{nan, nan})
		if wide, err = simulate(scheds, params, in, pair{nan, nan}, addPairs, simOptions{}); err != nil {
			return err
		}
		out = make([][]float64, len(wide))
		for r, w := range wide {
			out[r] = make([]float64, len(w))
			for i := range w {
				out[r][i] = w[i][0]
			}
		}
	} else if out, err = Simulate(scheds, params, inputs(c, exactVal, nan)); err != nil {
		return err
	}
	for r, o := range out {
		src, ok := source(c, r)
		if !ok {
			if len(o) != 0 {
				return fmt.Errorf("rank %d: Out has %d elements; want none", r, len(o))
			}
			continue
		}
		for i, v := range o {
			j, idx := src(i)
			w := exactSum(c.p, idx)
			if j >= 0 {
				w = exactVal(j, idx)
			}
			if v != w {
				return fmt.Errorf("rank %d Out[%d] = %v; want %v", r, i, v, w)
			}
			if wide != nil && math.Float64bits(wide[r][i][1]) != math.Float64bits(wide[0][i][1]) {
				return fmt.Errorf("rank %d Out[%d] = %v; rank 0 has %v (not bitwise identical)", r, i, wide[r][i][1], wide[0][i][1])
			}
		}
	}
	return nil
}
