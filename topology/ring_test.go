package topology

import (
	"errors"
	"fmt"
	"testing"
)

// checkCycle checks that c visits every node of topo once and that every
// step, the closing one included, has the given number of hops at most.
func checkCycle(t *testing.T, topo Topology, c []int, maxHops int) {
	t.Helper()
	if len(c) != topo.Nodes() {
		t.Fatalf("%s: cycle of %d nodes; want %d", topo.Name(), len(c), topo.Nodes())
	}
	seen := make([]bool, topo.Nodes())
	for i, n := range c {
		if seen[n] {
			t.Fatalf("%s: node %d twice in cycle", topo.Name(), n)
		}
		seen[n] = true
		next := c[(i+1)%len(c)]
		if h := topo.Hops(n, next); len(c) > 1 && (h < 1 || h > maxHops) {
			t.Fatalf("%s: cycle step %d -> %d has %d hops; want 1..%d", topo.Name(), n, next, h, maxHops)
		}
	}
}

func TestNodeCycleGrid(t *testing.T) {
	tests := []string{
		"torus:1", "torus:2", "torus:3", "torus:8", "torus:2x2", "torus:3x3", "torus:3x5", "torus:5x3",
		"torus:4x6", "torus:3x4", "torus:7x2", "torus:8x8", "torus:3x3x3", "torus:5x3x7", "torus:4x4x4",
		"torus:2x3x4x5", "torus:3x1x5", "torus:3x3x3x3", "torus:2x2x2x2x2x2", "torus:3x5x3x5x3x3",
		"tofu:1x1x1", "tofu:3x3x3", "tofu:2x3x1", "fugaku",
		"mesh:2", "mesh:1", "mesh:4x4", "mesh:3x4", "mesh:4x3", "mesh:2x5", "mesh:3x3x2", "mesh:2x3x5x3",
	}
	for _, spec := range tests {
		topo, err := Parse(spec)
		if err != nil {
			t.Fatal(err)
		}
		c, err := NodeCycle(topo)
		if err != nil {
			t.Errorf("NodeCycle(%s) err = %v; want nil", spec, err)
			continue
		}
		checkCycle(t, topo, c, 1)
	}
}

func TestNodeCycleMeshOdd(t *testing.T) {
	tests := []struct {
		spec    string
		closing int // hops of the ring's closing step
	}{
		{"mesh:3", 2}, {"mesh:5", 4}, {"mesh:1x7x1", 6}, {"mesh:4", 3},
		{"mesh:3x3", 2}, {"mesh:5x7", 2}, {"mesh:7x3", 2}, {"mesh:3x5x3", 2},
		{"mesh:1x3x5", 2}, {"mesh:3x1x3", 2}, {"mesh:5x3x3x3", 2}, {"mesh:3x3x3x3x3", 2},
	}
	for _, tt := range tests {
		spec := tt.spec
		topo, _ := Parse(spec)
		if _, err := NodeCycle(topo); !errors.Is(err, ErrNoCycle) {
			t.Errorf("NodeCycle(%s) err = %v; want ErrNoCycle", spec, err)
		}
		// The fallback: a path of one-hop steps; only the closing step is
		// longer: two hops, or the length of a line less one.
		path, err := NodePath(topo)
		if err != nil || len(path) != topo.Nodes() {
			t.Fatalf("NodePath(%s) = %v, %v; want all %d nodes", spec, path, err, topo.Nodes())
		}
		for i := 1; i < len(path); i++ {
			if h := topo.Hops(path[i-1], path[i]); h != 1 {
				t.Fatalf("NodePath(%s) step %d -> %d has %d hops; want 1", spec, path[i-1], path[i], h)
			}
		}
		if tt.closing > 0 {
			if h := topo.Hops(path[len(path)-1], path[0]); h != tt.closing {
				t.Errorf("NodePath(%s) closing step %d -> %d has %d hops; want %d", spec, path[len(path)-1], path[0], h, tt.closing)
			}
		}
		seen := make(map[int]bool)
		for _, n := range path {
			seen[n] = true
		}
		if len(seen) != topo.Nodes() {
			t.Errorf("NodePath(%s) visits %d distinct nodes; want %d", spec, len(seen), topo.Nodes())
		}
		p, _ := Place(topo, "linear", topo.Nodes())
		ring, err := EmbedRing(topo, p)
		if err != nil || ring.Validate(topo.Nodes()) != nil {
			t.Fatalf("EmbedRing(%s) = %v, %v; want the fallback", spec, ring, err)
		}
	}
}

func TestNodeCycleDragonfly(t *testing.T) {
	tests := []string{
		"dragonfly:groups=1,routers=3,nodes=2",
		"dragonfly:groups=2,routers=2,nodes=2",
		"dragonfly:groups=2,routers=1,nodes=3,global=1",
		"dragonfly:groups=4,routers=3,nodes=2",
		"dragonfly:groups=5,routers=4,nodes=1,global=1",
		"dragonfly:groups=9,routers=4,nodes=2",
		"aurora",
	}
	for _, spec := range tests {
		topo, _ := Parse(spec)
		d := topo.(*Dragonfly)
		c, err := NodeCycle(topo)
		if err != nil {
			t.Fatal(err)
		}
		checkCycle(t, topo, c, 3) // inject, at most one local or global, eject
		crossings, global := 0, 0
		for i, n := range c {
			next := c[(i+1)%len(c)]
			if d.Group(n) != d.Group(next) {
				crossings++
			}
			for _, l := range topo.Route(n, next) {
				if l.Kind == Global {
					global++
				}
			}
		}
		want := d.Groups
		if want == 1 {
			want = 0
		}
		if crossings != want || global != want {
			t.Errorf("NodeCycle(%s) crosses groups %d times over %d global links; want %d", spec, crossings, global, want)
		}
	}
}

func TestEmbedRingPlacements(t *testing.T) {
	tests := []struct {
		spec, place string
		ranks       int
	}{
		{"torus:8x8", "random:1", 64},
		{"torus:3x5", "random:7", 30},   // two ranks per node
		{"torus:3x5", "random:7:3", 45}, // three ranks per node
		{"tofu:1x2x1", "random:3", 24},
		{"mesh:4x3", "linear:2", 24},
		{"dragonfly:groups=4,routers=3,nodes=2", "random:5", 48},
	}
	for _, tt := range tests {
		topo, _ := Parse(tt.spec)
		p, err := Place(topo, tt.place, tt.ranks)
		if err != nil {
			t.Fatal(err)
		}
		ring, err := EmbedRing(topo, p)
		if err != nil {
			t.Fatal(err)
		}
		if err := ring.Validate(tt.ranks); err != nil {
			t.Fatalf("EmbedRing(%s, %s): %v", tt.spec, tt.place, err)
		}
		limit := 1
		if _, ok := topo.(*Dragonfly); ok {
			limit = 3
		}
		// Ranks of one node are consecutive: the ring visits each node once.
		visits := map[int]int{}
		for i, r := range ring.Ranks {
			next := ring.Ranks[(i+1)%len(ring.Ranks)]
			a, b := p.Nodes[r], p.Nodes[next]
			if a != b {
				visits[a]++
			}
			if h := topo.Hops(a, b); h > limit {
				t.Fatalf("EmbedRing(%s, %s): step rank %d -> %d has %d hops; want at most %d", tt.spec, tt.place, r, next, h, limit)
			}
		}
		for n, v := range visits {
			if v != 1 {
				t.Fatalf("EmbedRing(%s, %s): ring leaves node %d %d times; want once", tt.spec, tt.place, n, v)
			}
		}
	}
}

func TestEmbedRingsEdgeDisjoint(t *testing.T) {
	tests := []struct {
		spec string
		want int // rings found (limit 16)
	}{
		{"torus:3", 2},
		{"torus:8", 2},
		{"torus:8x8", 4},
		{"torus:5x5", 4},
		{"torus:3x4", 4},
		{"torus:4x7", 4},
		{"torus:2x5", 2}, // a size-2 dimension has one link: 3 ports a node
		{"torus:4x4x4", 6},
		{"torus:3x5x7", 6},
		{"torus:4x4x4x4", 8},
		{"torus:3x4x5x6", 8},
		{"torus:3x3x3x3", 8},
		{"tofu:2x2x2", 2}, // one dimension of size 3 (B)
		{"tofu:3x3x3", 8},
		{"torus:2x2x2", 2},
		{"dragonfly:groups=4,routers=3,nodes=2", 2},
		{"flat:5", 2},
	}
	// Every 2-D torus of sizes 3..9 has two edge-disjoint Hamiltonian
	// cycles, four rings.
	for a := 3; a <= 9; a++ {
		for b := a; b <= 9; b++ {
			tests = append(tests, struct {
				spec string
				want int
			}{fmt.Sprintf("torus:%dx%d", a, b), 4})
		}
	}
	for _, tt := range tests {
		topo, err := Parse(tt.spec)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := Place(topo, "random:2", topo.Nodes())
		rings, err := EmbedRings(topo, p, 16)
		if err != nil {
			t.Fatal(err)
		}
		if len(rings) != tt.want {
			t.Errorf("EmbedRings(%s) = %d rings; want %d", tt.spec, len(rings), tt.want)
		}
		used := map[Link]int{}
		for i, r := range rings {
			if err := r.Validate(topo.Nodes()); err != nil {
				t.Fatalf("EmbedRings(%s) ring %d: %v", tt.spec, i, err)
			}
			for _, f := range r.Flows() {
				route := topo.Route(p.Nodes[f.Src], p.Nodes[f.Dst])
				if _, grid := topo.(*GridNet); grid && len(route) != 1 {
					t.Errorf("EmbedRings(%s) ring %d: step %d->%d crosses %d links; want 1", tt.spec, i, f.Src, f.Dst, len(route))
				}
				for _, l := range route {
					if l.Kind == Inject || l.Kind == Eject {
						continue
					}
					if j, ok := used[l]; ok && j != i {
						t.Fatalf("EmbedRings(%s): link %v in rings %d and %d", tt.spec, l, j, i)
					}
					used[l] = i
				}
			}
		}
		// With 2n rings on an n-D torus of sizes >= 3 every directed link
		// carries one ring.
		if g, ok := topo.(*GridNet); ok && tt.want == 2*len(g.Shape()) {
			links := 0
			for v := range g.Nodes() {
				links += len(g.Neighbors(v))
			}
			if len(used) != links {
				t.Errorf("EmbedRings(%s): %d rings use %d of %d directed links; want all", tt.spec, len(rings), len(used), links)
			}
		}
	}
}

// TestDisjointCycles: DisjointCycles' cycles visit every node once, one
// link a step, and share no undirected link.
func TestDisjointCycles(t *testing.T) {
	tests := []struct {
		spec string
		want int
	}{
		{"torus:3x3", 2}, {"torus:4x6", 2}, {"torus:6x11", 2}, {"torus:3x4x5", 3}, {"torus:5x5x5", 3},
		{"torus:6x6x6", 3}, {"torus:4x4x4x4", 4}, {"tofu:2x2x2", 1}, {"tofu:4x3x5", 4}, {"torus:2x2", 0}, {"mesh:4x4", 0}, {"torus:4x4x4x4x4x4", 0},
	}
	for _, tt := range tests {
		topo, _ := Parse(tt.spec)
		g := topo.(*GridNet)
		cs := DisjointCycles(g)
		if len(cs) != tt.want {
			t.Errorf("DisjointCycles(%s) = %d cycles; want %d", tt.spec, len(cs), tt.want)
		}
		type edge struct{ a, b int }
		used := map[edge]int{}
		for i, c := range cs {
			checkCycle(t, g, c, 1)
			for j, a := range c {
				b := c[(j+1)%len(c)]
				e := edge{min(a, b), max(a, b)}
				if k, ok := used[e]; ok {
					t.Fatalf("DisjointCycles(%s): link %d-%d in cycles %d and %d", tt.spec, a, b, k, i)
				}
				used[e] = i
			}
		}
	}
}

func ExampleEmbedRing() {
	topo, _ := Parse("torus:2x3")
	p, _ := Place(topo, "random:1", 6)
	ring, _ := EmbedRing(topo, p)
	fmt.Println(p.Nodes, ring.Ranks)
	for _, f := range ring.Flows() {
		fmt.Print(topo.Hops(p.Nodes[f.Src], p.Nodes[f.Dst]), " ")
	}
	fmt.Println()
	// Output:
	// [0 1 3 2 4 5] [0 1 3 5 4 2]
	// 1 1 1 1 1 1
}
