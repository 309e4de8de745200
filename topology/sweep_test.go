package topology

import (
	"fmt"
	"testing"
)

// gridSweep returns torus and mesh specs of 1 to 6 dimensions with odd and
// even sizes (1 to 5), a few per dimension count, drawn from a fixed seed,
// plus small Tofu-D shapes.
func gridSweep() []string {
	rng := splitmix64(5)
	var specs []string
	for dims := 1; dims <= 6; dims++ {
		for range 6 {
			shape, n := "", 1
			for d := range dims {
				k := 1 + int(rng.next()%5)
				if n*k > 1200 {
					k = 1
				}
				n *= k
				if d > 0 {
					shape += "x"
				}
				shape += fmt.Sprint(k)
			}
			specs = append(specs, "torus:"+shape, "mesh:"+shape)
		}
	}
	return append(specs, "torus:3", "torus:7", "torus:8", "mesh:3", "torus:3x3x3x3x3x3", "torus:2x2x2x2x2x2", "mesh:3x3x3x3x3x2",
		"tofu:1x1x1", "tofu:2x1x1", "tofu:1x3x1", "tofu:2x2x2", "tofu:3x1x2")
}

// TestEmbedRingSweep: on every shape of the sweep, under random placements
// of one and two ranks per node, the embedded ring holds every rank once,
// leaves every node once, and every step crosses one link (none between
// ranks of one node); a mesh with an odd node count (no Hamiltonian cycle)
// falls back to the snake, whose closing step alone is longer.
func TestEmbedRingSweep(t *testing.T) {
	for i, spec := range gridSweep() {
		topo, err := Parse(spec)
		if err != nil {
			t.Fatal(err)
		}
		_, cycleErr := NodeCycle(topo)
		for per := 1; per <= 2; per++ {
			ranks := per * topo.Nodes()
			p, err := Place(topo, fmt.Sprintf("random:%d:%d", i, per), ranks)
			if err != nil {
				t.Fatal(err)
			}
			ring, err := EmbedRing(topo, p)
			if err != nil {
				t.Fatalf("EmbedRing(%s) = %v", spec, err)
			}
			if err := ring.Validate(ranks); err != nil {
				t.Fatalf("EmbedRing(%s): %v", spec, err)
			}
			long, leaves := 0, map[int]int{}
			for j, r := range ring.Ranks {
				a, b := p.Nodes[r], p.Nodes[ring.Ranks[(j+1)%ranks]]
				h := topo.Hops(a, b)
				if a != b {
					leaves[a]++
				}
				if (a == b) != (h == 0) || h > 1 {
					long++
				}
			}
			switch {
			case cycleErr == nil && long != 0:
				t.Errorf("EmbedRing(%s, random:%d:%d): %d steps longer than one hop; want 0", spec, i, per, long)
			case cycleErr != nil && long > 1:
				t.Errorf("EmbedRing(%s, random:%d:%d) (no cycle: %v): %d long steps; want only the closing one", spec, i, per, cycleErr, long)
			}
			for n, k := range leaves {
				if k != 1 {
					t.Fatalf("EmbedRing(%s): ring leaves node %d %d times; want once", spec, n, k)
				}
			}
		}
		if g := topo.(*GridNet); !g.Wraps() && cycleErr == nil && topo.Nodes()%2 == 1 && topo.Nodes() > 1 {
			t.Errorf("NodeCycle(%s) found a cycle through an odd number of mesh nodes", spec)
		}
	}
}

// TestDragonflySweep: on dragonflies of 1 to 9 groups, 1 to 4 routers and
// 1 to 3 nodes per router, default and single global links, under random
// placements: the embedded ring crosses between groups exactly G times
// (none for one group), each time over one global link; both double
// trees span the ranks with depth at most ceil(log2 n)+1; and hop counts
// agree with breadth-first search on the explicit link graph (checked on
// every fifth shape, all pairs).
func TestDragonflySweep(t *testing.T) {
	shape := 0
	for g := 1; g <= 9; g++ {
		for a := 1; a <= 4; a++ {
			for n := 1; n <= 3; n++ {
				for _, h := range []int{0, 1} {
					if h == 1 && a < g-1 {
						continue // one global link a router cannot reach every group
					}
					shape++
					d, err := NewDragonfly(g, a, n, h)
					if err != nil {
						t.Fatalf("NewDragonfly(%d, %d, %d, %d) = %v", g, a, n, h, err)
					}
					spec := d.Name()
					p, err := Place(d, fmt.Sprintf("random:%d", shape), d.Nodes())
					if err != nil {
						t.Fatal(err)
					}
					ring, err := EmbedRing(d, p)
					if err != nil {
						t.Fatalf("EmbedRing(%s) = %v", spec, err)
					}
					ld, err := LinkLoad(d, p, ring.Flows())
					if err != nil {
						t.Fatal(err)
					}
					crossings := 0
					for _, f := range ring.Flows() {
						if d.Group(p.Nodes[f.Src]) != d.Group(p.Nodes[f.Dst]) {
							crossings++
						}
					}
					want := g
					if g == 1 {
						want = 0
					}
					if d.Nodes() == 1 {
						want = 0
					}
					if crossings != want || ld.GlobalCrossings != want {
						t.Errorf("EmbedRing(%s): %d group crossings over %d global links; want %d", spec, crossings, ld.GlobalCrossings, want)
					}
					trees, err := DoubleTree(d, p)
					if err != nil {
						t.Fatal(err)
					}
					for k, tr := range trees {
						if err := tr.Validate(d.Nodes()); err != nil {
							t.Fatalf("DoubleTree(%s)[%d]: %v", spec, k, err)
						}
						if got, limit := tr.Depth(), ceilLog2(d.Nodes())+1; got > limit {
							t.Errorf("DoubleTree(%s)[%d].Depth() = %d; want at most %d", spec, k, got, limit)
						}
					}
					if shape%5 != 0 {
						continue
					}
					// Minimal routing: the shortest path that stays in the
					// source and destination groups.
					adj, v := dragonflyAdj(d), d.Nodes()
					groupOf := func(x int) int {
						if x < v {
							return d.Group(x)
						}
						return (x - v) / d.Routers
					}
					for x := range v {
						for y := range v {
							gx, gy := d.Group(x), d.Group(y)
							dist := bfs(adj, x, func(u int) bool { g := groupOf(u); return g == gx || g == gy })
							if got := d.Hops(x, y); got != dist[y] {
								t.Fatalf("%s: Hops(%d, %d) = %d; want BFS distance %d", spec, x, y, got, dist[y])
							}
						}
					}
				}
			}
		}
	}
}
