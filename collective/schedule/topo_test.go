package schedule

import (
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/kizuna-hpc/kizuna/topology"
)

// topoCase is an algorithm on one layout of size ranks.
type topoCase struct {
	algo   Algo
	size   int
	layout *Layout
}

// perm returns a pseudo-random permutation of 0..n-1 (seeded by n and seed).
func perm(n int, seed uint64) []int {
	return rand.New(rand.NewPCG(uint64(n), seed)).Perm(n)
}

// topoLayouts lists the layouts TestTopoMatrix runs.
func topoLayouts() []topoCase {
	var cs []topoCase
	dims := [][]int{{2}, {3}, {2, 2}, {3, 3}, {2, 3, 2}, {4, 4}, {3, 5}, {2, 2, 2, 2}, {1, 3}, {5, 1, 2}, {6}}
	for i, d := range dims {
		p := 1
		for _, x := range d {
			p *= x
		}
		cs = append(cs, topoCase{Torus, p, &Layout{Dims: d}})
		cs = append(cs, topoCase{Swing, p, &Layout{Dims: d}})
		if i%3 == 2 { // some grids placed by a random permutation
			cs = append(cs, topoCase{Torus, p, &Layout{Dims: d, Grid: perm(p, 1)}})
			cs = append(cs, topoCase{Swing, p, &Layout{Dims: d, Grid: perm(p, 2)}})
		}
	}
	groups := [][][]int{
		{{0, 1}, {2, 3}},                  // equal
		{{0, 1, 2}, {3, 4, 5}, {6, 7, 8}}, // equal, odd
		{{0, 1, 2}, {3, 4}},               // unequal: one extra
		{{0}, {1, 2, 3, 4}},               // smallest group of one
		{{0, 1, 2, 3, 4}, {5, 6}, {7, 8}}, // two extras on one member
		{{4, 0, 7}, {2, 6, 1, 5}, {3}},    // shuffled, a singleton group
		{{5, 3}, {0, 4}, {1, 2}, {7, 6}},  // shuffled, equal
		{{0, 1, 2, 3, 4, 5}},              // one group
		{{0}, {1}, {2}, {3}, {4}},         // groups of one
		{{1, 0, 2, 3}, {6, 5, 4, 7}, {8}}, // mixed
		{{0, 2, 4, 6, 8, 10}, {1, 3, 5, 7, 9, 11}},
	}
	for _, g := range groups {
		p := 0
		for _, x := range g {
			p += len(x)
		}
		cs = append(cs, topoCase{Hierarchical, p, &Layout{Groups: g}})
	}
	for _, p := range []int{2, 5, 6, 8, 12} {
		cs = append(cs, topoCase{Swing, p, &Layout{Ring: perm(p, 3)}})
	}
	for i, p := range []int{2, 3, 4, 5, 7, 8, 9} {
		k := 1 + i%4
		rings := make([][]int, k)
		for j := range rings {
			rings[j] = perm(p, uint64(10+j))
		}
		cs = append(cs, topoCase{MultiRing, p, &Layout{Rings: rings}})
	}
	cs = append(cs, topoCase{MultiRing, 6, &Layout{Ring: perm(6, 4)}})
	for i, p := range []int{2, 3, 5, 8, 13} {
		cs = append(cs, topoCase{Tree, p, &Layout{Trees: [][]int{randomTree(p, uint64(i)), randomTree(p, uint64(i+100))}}})
	}
	for _, tt := range []struct{ spec, place string }{
		{"torus:4x4", "random:1"}, {"tofu:1x1x1", "linear"}, {"dragonfly:groups=3,routers=2,nodes=1", "random:2:2"}, {"torus:3x3", "linear:2"},
	} {
		cs = append(cs, topoCase{Tree, 0, &Layout{Trees: doubleTree(tt.spec, tt.place)}})
	}
	for i := range cs {
		if cs[i].size == 0 {
			cs[i].size = len(cs[i].layout.Trees[0])
		}
	}
	return cs
}

// randomTree returns the parent array of a random spanning tree of p ranks
// (any shape: a rank may have many children), seeded.
func randomTree(p int, seed uint64) []int {
	rng := rand.New(rand.NewPCG(uint64(p), seed))
	order := rng.Perm(p)
	par := make([]int, p)
	par[order[0]] = -1
	for i := 1; i < p; i++ {
		par[order[i]] = order[rng.IntN(i)]
	}
	return par
}

// doubleTree returns topology.DoubleTree's trees for spec and placement.
func doubleTree(spec, place string) [][]int {
	t, err := topology.Parse(spec)
	if err != nil {
		panic(err)
	}
	n := t.Nodes()
	if _, k, ok := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(place, "random:"), "linear"), ":"); ok {
		m, _ := strconv.Atoi(k)
		n *= m
	}
	p, err := topology.Place(t, place, n)
	if err != nil {
		panic(err)
	}
	trees, err := topology.DoubleTree(t, p)
	if err != nil {
		panic(err)
	}
	return [][]int{trees[0].Parent, trees[1].Parent}
}

// TestTopoMatrix runs every topology-aware AllReduce (and Ring on an
// embedded ring, for every collective) over layouts, counts, chunks and
// in-place, through Validate and Simulate: the reference result, every
// element reduced from each input once, and bitwise agreement (the
// symbolic check sees the association of every element on every rank).
func TestTopoMatrix(t *testing.T) {
	for i, tc := range topoLayouts() {
		name := tc.algo.String()
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := tc.size
			for _, n := range []int{0, 1, p - 1, p + 1, 1000} {
				for _, chunk := range []int{0, 7} {
					for _, ip := range []bool{false, true} {
						c := simCase{AllReduce, tc.algo, p, n, chunk, 0, ip, tc.layout}
						if err := checkSymbolic(c); err != nil {
							t.Errorf("%v: %v", c, err)
						}
					}
				}
			}
			// The large prime count on every other layout: float check
			// (exact sums and bitwise agreement), not symbolic.
			if !testing.Short() && p <= 12 && i%2 == 0 {
				c := simCase{AllReduce, tc.algo, p, largeCount, 4096 * (p % 2), 0, p%3 == 0, tc.layout}
				if err := checkFloat(c); err != nil {
					t.Errorf("%v: %v", c, err)
				}
			}
		})
	}
	t.Run("ring-order", func(t *testing.T) {
		t.Parallel()
		for _, p := range []int{2, 3, 5, 6} {
			l := &Layout{Ring: perm(p, 5)}
			for _, coll := range []Coll{AllReduce, Broadcast, Reduce, AllGather, ReduceScatter, AllToAll, Gather, Scatter, Barrier} {
				for _, n := range []int{0, 1, p + 1, 100} {
					if coll == Barrier {
						n = 0
					}
					for _, chunk := range []int{0, 7} {
						for _, ip := range []bool{false, true} {
							for _, root := range []int{0, p - 1} {
								c := simCase{coll, Ring, p, n, chunk, root, ip, l}
								if err := checkSymbolic(c); err != nil {
									t.Errorf("%v: %v", c, err)
								}
							}
						}
					}
				}
			}
		}
	})
}

// TestLayoutEquivalences: layouts that describe no change give the very
// schedules of the algorithms they reduce to.
func TestLayoutEquivalences(t *testing.T) {
	tests := []struct {
		name string
		a, b simCase
	}{
		{"identity ring", simCase{AllGather, Ring, 5, 13, 3, 0, false, nil},
			simCase{AllGather, Ring, 5, 13, 3, 0, false, &Layout{Ring: []int{0, 1, 2, 3, 4}}}},
		{"multiring of one ring", simCase{AllReduce, Ring, 6, 101, 4, 0, false, &Layout{Ring: perm(6, 7)}},
			simCase{AllReduce, MultiRing, 6, 101, 4, 0, false, &Layout{Rings: [][]int{perm(6, 7)}}}},
		{"multiring of one ring in place", simCase{AllReduce, Ring, 7, 50, 0, 0, true, &Layout{Ring: perm(7, 8)}},
			simCase{AllReduce, MultiRing, 7, 50, 0, 0, true, &Layout{Ring: perm(7, 8)}}},
		{"swing on one ring without layout", simCase{AllReduce, Swing, 8, 77, 5, 0, false, nil},
			simCase{AllReduce, Swing, 8, 77, 5, 0, false, &Layout{Ring: []int{0, 1, 2, 3, 4, 5, 6, 7}}}},
		{"swing on a 1-D grid", simCase{AllReduce, Swing, 6, 77, 5, 0, true, nil},
			simCase{AllReduce, Swing, 6, 77, 5, 0, true, &Layout{Dims: []int{6}}}},
		{"hier of equal groups is a 2-D torus", simCase{AllReduce, Hierarchical, 6, 99, 4, 0, false, &Layout{Groups: [][]int{{0, 1, 2}, {3, 4, 5}}}},
			simCase{AllReduce, Torus, 6, 99, 4, 0, false, &Layout{Dims: []int{3, 2}}}},
	}
	for _, tt := range tests {
		for r := range tt.a.p {
			a, errA := Build(tt.a.params(r))
			b, errB := Build(tt.b.params(r))
			if errA != nil || errB != nil {
				t.Fatalf("%s: Build = %v, %v", tt.name, errA, errB)
			}
			if !equalSchedules(a, b) {
				t.Errorf("%s: rank %d: Build(%v) differs from Build(%v)", tt.name, r, tt.b, tt.a)
			}
		}
	}
}

func TestLayoutErrors(t *testing.T) {
	ok := Params{Coll: AllReduce, Algo: Torus, Rank: 0, Size: 6, Count: 10, Layout: &Layout{Dims: []int{2, 3}}}
	with := func(f func(*Params)) Params {
		p := ok
		f(&p)
		return p
	}
	if _, err := Build(ok); err != nil {
		t.Fatalf("Build(%+v) = %v", ok, err)
	}
	tests := []struct {
		name string
		p    Params
		err  error
		says []string
	}{
		{"torus no layout", with(func(p *Params) { p.Layout = nil }), ErrUnavailable, []string{"torus", "Layout.Dims"}},
		{"torus no dims", with(func(p *Params) { p.Layout = &Layout{Ring: perm(6, 1)} }), ErrUnavailable, []string{"Layout.Dims"}},
		{"hier no groups", with(func(p *Params) { p.Algo = Hierarchical }), ErrUnavailable, []string{"hier", "Layout.Groups"}},
		{"multiring no rings", with(func(p *Params) { p.Algo = MultiRing }), ErrUnavailable, []string{"multiring", "Layout.Rings"}},
		{"dims product", with(func(p *Params) { p.Layout = &Layout{Dims: []int{2, 2}} }), ErrInvalid, []string{"do not multiply to size 6"}},
		{"dims zero", with(func(p *Params) { p.Layout = &Layout{Dims: []int{6, 0}} }), ErrInvalid, []string{"out of range"}},
		{"dims overflow", with(func(p *Params) {
			p.Layout = &Layout{Dims: []int{6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6}}
		}),
			ErrInvalid, []string{"do not multiply"}},
		{"grid not a permutation", with(func(p *Params) { p.Layout = &Layout{Dims: []int{6}, Grid: []int{0, 1, 2, 3, 4, 4}} }), ErrInvalid, []string{"Grid"}},
		{"groups overlap", with(func(p *Params) {
			p.Algo, p.Layout = Hierarchical, &Layout{Groups: [][]int{{0, 1, 2}, {2, 3, 4, 5}}}
		}), ErrInvalid, []string{"two groups"}},
		{"groups miss a rank", with(func(p *Params) {
			p.Algo, p.Layout = Hierarchical, &Layout{Groups: [][]int{{0, 1, 2}, {3, 4}}}
		}), ErrInvalid, []string{"5 of 6"}},
		{"empty group", with(func(p *Params) {
			p.Algo, p.Layout = Hierarchical, &Layout{Groups: [][]int{{0, 1, 2, 3, 4, 5}, {}}}
		}), ErrInvalid, []string{"empty"}},
		{"ring not a permutation", with(func(p *Params) { p.Algo, p.Layout = Ring, &Layout{Ring: []int{0, 1, 2}} }), ErrInvalid, []string{"Ring"}},
		{"swing ring not a permutation", with(func(p *Params) { p.Algo, p.Layout = Swing, &Layout{Ring: []int{0, 0, 1, 2, 3, 4}} }), ErrInvalid, []string{"Ring"}},
		{"too many rings", with(func(p *Params) {
			p.Algo, p.Layout = MultiRing, &Layout{Rings: make([][]int, MaxRings+1)}
		}), ErrInvalid, []string{"17 rings"}},
		{"ring of rings bad", with(func(p *Params) {
			p.Algo, p.Layout = MultiRing, &Layout{Rings: [][]int{perm(6, 1), {0, 1}}}
		}), ErrInvalid, []string{"Rings[1]"}},
		{"too many tags", with(func(p *Params) { p.Algo, p.Count, p.ChunkElems = Swing, 1<<30, 1 }), ErrInvalid, []string{"tags"}},
		{"too many tags multiring", with(func(p *Params) {
			p.Algo, p.Count, p.ChunkElems, p.Layout = MultiRing, 1<<30, 1, &Layout{Ring: perm(6, 1)}
		}), ErrInvalid, []string{"tags"}},
		{"torus broadcast", with(func(p *Params) { p.Coll = Broadcast }), ErrUnavailable, []string{"available: ring, tree"}},
		{"one tree", with(func(p *Params) { p.Algo, p.Layout = Tree, &Layout{Trees: [][]int{{-1, 0, 0, 1, 1, 2}}} }), ErrInvalid, []string{"1 trees; want 2"}},
		{"tree short", with(func(p *Params) {
			p.Algo, p.Layout = Tree, &Layout{Trees: [][]int{{-1, 0, 0, 1, 1, 2}, {-1, 0}}}
		}), ErrInvalid, []string{"Trees[1] has 2 parents"}},
		{"tree two roots", with(func(p *Params) {
			p.Algo, p.Layout = Tree, &Layout{Trees: [][]int{{-1, 0, 0, 1, 1, 2}, {-1, 0, 0, 1, 1, -1}}}
		}), ErrInvalid, []string{"2 roots"}},
		{"tree cycle", with(func(p *Params) {
			p.Algo, p.Layout = Tree, &Layout{Trees: [][]int{{-1, 0, 0, 1, 1, 2}, {-1, 2, 3, 1, 1, 2}}}
		}), ErrInvalid, []string{"cycle"}},
		{"tree parent out of range", with(func(p *Params) {
			p.Algo, p.Layout = Tree, &Layout{Trees: [][]int{{-1, 0, 0, 1, 1, 6}, {-1, 0, 0, 1, 1, 2}}}
		}), ErrInvalid, []string{"rank 5 has parent 6"}},
	}
	for _, tt := range tests {
		s, err := Build(tt.p)
		if s != nil || !errors.Is(err, tt.err) {
			t.Errorf("%s: Build(%+v) = %v, %v; want nil, %v", tt.name, tt.p, s, err, tt.err)
			continue
		}
		for _, w := range tt.says {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: Build(%+v) error %q does not mention %q", tt.name, tt.p, err, w)
			}
		}
	}
}

// TestValidateLayoutMismatch: ranks that disagree on the layout are not
// one call; equal layouts behind different pointers are.
func TestValidateLayoutMismatch(t *testing.T) {
	build := func(ls ...*Layout) error {
		scheds := make([]*Schedule, len(ls))
		params := make([]Params, len(ls))
		for r, l := range ls {
			params[r] = Params{Coll: AllReduce, Algo: Torus, Rank: r, Size: len(ls), Count: 9, Layout: l}
			s, err := Build(params[r])
			if err != nil {
				return err
			}
			scheds[r] = s
		}
		return Validate(scheds, params)
	}
	a, b := &Layout{Dims: []int{2, 2}}, &Layout{Dims: []int{2, 2}}
	if err := build(a, b, a, b); err != nil {
		t.Errorf("Validate(equal layouts, different pointers) = %v; want nil", err)
	}
	c := &Layout{Dims: []int{4}}
	if err := build(a, a, c, a); !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "layout differs") {
		t.Errorf("Validate(rank 2 on another layout) = %v; want ErrMismatch naming the layout", err)
	}
}

// TestSwingPairs checks Swing's partners against the paper's definition
// and that its blocks nest for every power of two.
func TestSwingPairs(t *testing.T) {
	for s, want := range []int{1, -1, 3, -5, 11, -21, 43} {
		if got := rho(s); got != want {
			t.Errorf("rho(%d) = %d; want %d", s, got, want)
		}
	}
	tests := []struct{ v, s, k, want int }{
		{0, 0, 8, 1}, {1, 0, 8, 0}, {0, 1, 8, 7}, {7, 1, 8, 0}, {2, 2, 8, 5}, {5, 2, 8, 2}, {3, 2, 16, 0}, {4, 3, 16, 15},
	}
	for _, tt := range tests {
		if got := swingPeer(tt.v, tt.s, tt.k); got != tt.want {
			t.Errorf("swingPeer(%d, %d, %d) = %d; want %d", tt.v, tt.s, tt.k, got, tt.want)
		}
	}
	for k := 2; k <= 1<<12; k *= 2 {
		slot, err := swingSlots(k)
		if err != nil {
			t.Fatalf("swingSlots(%d) = %v", k, err)
		}
		if !isPerm(slot, k) {
			t.Fatalf("swingSlots(%d) is not a permutation", k)
		}
		// Partners share their run before a step and split it after.
		for s := 0; 1<<s < k; s++ {
			w := k >> s
			for v := range k {
				u := swingPeer(v, s, k)
				if swingPeer(u, s, k) != v {
					t.Fatalf("k=%d step %d: %d pairs with %d, which pairs with %d", k, s, v, u, swingPeer(u, s, k))
				}
				if slot[v]/w != slot[u]/w || slot[v]/(w/2) == slot[u]/(w/2) {
					t.Fatalf("k=%d step %d: %d (slot %d) and %d (slot %d) do not split a run of %d", k, s, v, slot[v], u, slot[u], w)
				}
			}
		}
	}
}

func TestParseNewAlgos(t *testing.T) {
	tests := []struct {
		in   string
		want Algo
	}{
		{"torus", Torus}, {"Hier", Hierarchical}, {"hierarchical", Hierarchical}, {"SWING", Swing},
		{"multiring", MultiRing}, {"multi-ring", MultiRing}, {"multi_ring", MultiRing},
	}
	for _, tt := range tests {
		got, err := ParseAlgo(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseAlgo(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		if back, err := ParseAlgo(got.String()); err != nil || back != got {
			t.Errorf("ParseAlgo(%q) = %v, %v; want %v", got.String(), back, err, got)
		}
	}
	spec, err := ParseAlgoSpec("allreduce:torus,swing;^multiring")
	if err != nil {
		t.Fatal(err)
	}
	if got := spec.String(); got != "^multiring;allreduce:torus,swing" {
		t.Errorf("ParseAlgoSpec(...).String() = %q; want %q", got, "^multiring;allreduce:torus,swing")
	}
	if !spec.Allowed(AllReduce, Swing) || spec.Allowed(AllReduce, Ring) || spec.Allowed(Broadcast, MultiRing) {
		t.Errorf("ParseAlgoSpec(%q) allows the wrong algorithms", spec)
	}
	for _, a := range []Algo{Torus, Hierarchical, MultiRing} {
		if Needs(a) == "" {
			t.Errorf("Needs(%v) = \"\"; want the Layout field", a)
		}
	}
	for _, a := range []Algo{Ring, Tree, HalvingDoubling, RecursiveDoubling, Swing} {
		if Needs(a) != "" {
			t.Errorf("Needs(%v) = %q; want \"\"", a, Needs(a))
		}
	}
}

func TestAvailableOn(t *testing.T) {
	tests := []struct {
		l    *Layout
		want []Algo
	}{
		{nil, []Algo{Ring, Tree, HalvingDoubling, RecursiveDoubling, Swing}},
		{&Layout{Dims: []int{2, 2}}, []Algo{Ring, Tree, HalvingDoubling, RecursiveDoubling, Torus, Swing}},
		{&Layout{Ring: []int{1, 0}}, []Algo{Ring, Tree, HalvingDoubling, RecursiveDoubling, Swing, MultiRing}},
		{&Layout{Groups: [][]int{{0}, {1}}}, []Algo{Ring, Tree, HalvingDoubling, RecursiveDoubling, Hierarchical, Swing}},
	}
	for _, tt := range tests {
		got := AvailableOn(AllReduce, tt.l)
		if len(got) != len(tt.want) {
			t.Errorf("AvailableOn(allreduce, %+v) = %v; want %v", tt.l, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("AvailableOn(allreduce, %+v) = %v; want %v", tt.l, got, tt.want)
				break
			}
		}
	}
}

func TestEstimateOn(t *testing.T) {
	k := Costs{Alpha: 1, Beta: 0.01, Gamma: 0.001}
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }
	torus := &Layout{Dims: []int{4, 3}}
	tests := []struct {
		name  string
		c     Coll
		a     Algo
		bytes int64
		size  int
		t     StepCost
		want  float64
	}{
		// Mikami et al.: 2(X-1)a + 2(Y-1)a + 2((p-1)/p)nb + ((p-1)/p)ng.
		{"torus 4x3", AllReduce, Torus, 1200, 12, StepCost{Layout: torus}, 6 + 4 + 2*(11.0/12)*1200*0.01 + (11.0/12)*1200*0.001},
		// Every round one hop of 0.5 and links shared by two flows.
		{"torus contention", AllReduce, Torus, 1200, 12, StepCost{Layout: torus, Hop: 0.5, Hops: []float64{1}, Load: []float64{2}},
			10*1.5 + 2*2*(11.0/12)*1200*0.01 + (11.0/12)*1200*0.001},
		// Without network data EstimateOn is Estimate.
		{"ring", AllReduce, Ring, 1000, 4, StepCost{}, Estimate(AllReduce, Ring, 1000, 4, k)},
		{"hd folded", AllReduce, HalvingDoubling, 400, 6, StepCost{}, Estimate(AllReduce, HalvingDoubling, 400, 6, k)},
		{"rd", AllReduce, RecursiveDoubling, 400, 8, StepCost{}, Estimate(AllReduce, RecursiveDoubling, 400, 8, k)},
		{"swing", AllReduce, Swing, 800, 8, StepCost{}, Estimate(AllReduce, Swing, 800, 8, k)},
		// Swing per dimension of 2x4: 1 + 2 steps each way, bytes as hd.
		{"swing 2x4", AllReduce, Swing, 800, 8, StepCost{Layout: &Layout{Dims: []int{2, 4}}}, Estimate(AllReduce, HalvingDoubling, 800, 8, k)},
		// Later rounds repeat the last hop count: hd on 4 has 4 rounds.
		{"per-round hops", AllReduce, HalvingDoubling, 0, 4, StepCost{Hop: 1, Hops: []float64{3, 1}}, 4 + 3 + 1 + 1 + 1},
		// Equal groups of 3 x 2 groups = torus (3, 2).
		{"hier", AllReduce, Hierarchical, 600, 6, StepCost{Layout: &Layout{Groups: [][]int{{0, 1, 2}, {3, 4, 5}}}},
			EstimateOn(AllReduce, Torus, 600, 6, k, StepCost{Layout: &Layout{Dims: []int{3, 2}}})},
		// Unequal groups add a fold and an unfold round of n.
		{"hier unequal", AllReduce, Hierarchical, 600, 5, StepCost{Layout: &Layout{Groups: [][]int{{0, 1, 2}, {3, 4}}}},
			2*1 + 600*0.01*2 + 600*0.001 + EstimateOn(AllReduce, Torus, 600, 4, k, StepCost{Layout: &Layout{Dims: []int{2, 2}}})},
		// Two rings carry half each: the bandwidth term halves.
		{"multiring", AllReduce, MultiRing, 1000, 4, StepCost{Layout: &Layout{Rings: [][]int{{0, 1, 2, 3}, {3, 2, 1, 0}}}},
			6 + 0.75*1000*0.01 + 0.75*1000*0.001},
		{"torus without layout", AllReduce, Torus, 100, 4, StepCost{}, math.Inf(1)},
		{"broadcast load", Broadcast, Ring, 100, 5, StepCost{Hop: 1, Hops: []float64{2}, Load: []float64{3}}, 4*3 + 3},
	}
	for _, tt := range tests {
		got := EstimateOn(tt.c, tt.a, tt.bytes, tt.size, k, tt.t)
		if !near(got, tt.want) && !(math.IsInf(got, 1) && math.IsInf(tt.want, 1)) {
			t.Errorf("%s: EstimateOn(%v, %v, %d, %d) = %v; want %v", tt.name, tt.c, tt.a, tt.bytes, tt.size, got, tt.want)
		}
	}
	for _, a := range []Algo{Torus, Hierarchical, MultiRing} {
		if got := Estimate(AllReduce, a, 100, 4, k); !math.IsInf(got, 1) {
			t.Errorf("Estimate(allreduce, %v) = %v; want +Inf (needs a layout)", a, got)
		}
	}
	// A 4x4 torus: torus beats ring once latency matters; contention on
	// hd's long-distance rounds makes the torus win where it would not.
	big := StepCost{Layout: &Layout{Dims: []int{4, 4}}}
	if got := ChooseOn(AllReduce, 1<<20, 16, Costs{Alpha: 1e-5, Beta: 1e-10}, big,
		func(c Coll, a Algo) bool { return a == Ring || a == Torus }); got != Torus {
		t.Errorf("ChooseOn(ring or torus on 4x4) = %v; want torus", got)
	}
	if got := Choose(AllReduce, 1<<30, 64, Costs{Alpha: 1e-5, Beta: 1e-10}, nil); got != HalvingDoubling {
		t.Errorf("Choose(allreduce, 1 GiB, 64) = %v; want hd (swing ties with it and loses)", got)
	}
}
