package topology

import (
	"slices"
	"testing"
)

// gridAdj builds the link graph of a torus or mesh from its definition,
// independently of GridNet: node -> set of neighbours.
func gridAdj(dims []int, wrap bool) []map[int]bool {
	n := 1
	for _, d := range dims {
		n *= d
	}
	adj := make([]map[int]bool, n)
	for v := range n {
		adj[v] = map[int]bool{}
		c := make([]int, len(dims))
		x := v
		for i := len(dims) - 1; i >= 0; i-- {
			c[i] = x % dims[i]
			x /= dims[i]
		}
		for i := range dims {
			for _, s := range []int{-1, 1} {
				cc := slices.Clone(c)
				cc[i] += s
				if wrap {
					cc[i] = (cc[i] + dims[i]) % dims[i]
				}
				if cc[i] < 0 || cc[i] >= dims[i] || cc[i] == c[i] {
					continue
				}
				w := 0
				for j := range dims {
					w = w*dims[j] + cc[j]
				}
				adj[v][w] = true
			}
		}
	}
	return adj
}

func bfs(adj []map[int]bool, src int, allowed func(int) bool) []int {
	dist := make([]int, len(adj))
	for i := range dist {
		dist[i] = -1
	}
	dist[src] = 0
	queue := []int{src}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for w := range adj[v] {
			if dist[w] < 0 && allowed(w) {
				dist[w] = dist[v] + 1
				queue = append(queue, w)
			}
		}
	}
	return dist
}

// checkRoute checks that route is a walk of existing links from a to b.
func checkRoute(t *testing.T, name string, adj []map[int]bool, a, b int, route []Link) {
	t.Helper()
	at := a
	for _, l := range route {
		if l.From != at || !adj[l.From][l.To] {
			t.Fatalf("%s: Route(%d, %d) = %v; link %v is not a link from %d", name, a, b, route, l, at)
		}
		at = l.To
	}
	if at != b {
		t.Fatalf("%s: Route(%d, %d) = %v ends at %d; want %d", name, a, b, route, at, b)
	}
}

func TestGridHopsMatchBFS(t *testing.T) {
	tests := []string{
		"torus:1", "torus:2", "torus:5", "torus:6", "torus:3x4", "torus:5x5", "torus:4x4", "torus:2x7",
		"torus:3x2x5", "torus:2x3x2x3", "torus:3x1x3x2x1", "tofu:1x2x1", "tofu:2x1x3",
		"mesh:5", "mesh:3x4", "mesh:5x5", "mesh:2x3x3", "mesh:2x1x3x2",
	}
	for _, spec := range tests {
		topo, err := Parse(spec)
		if err != nil {
			t.Fatal(err)
		}
		g := topo.(*GridNet)
		adj := gridAdj(g.Shape(), g.Wraps())
		for a := range topo.Nodes() {
			dist := bfs(adj, a, func(int) bool { return true })
			if nb := g.Neighbors(a); len(nb) != len(adj[a]) {
				t.Errorf("%s: Neighbors(%d) = %v; want %d neighbours", spec, a, nb, len(adj[a]))
			}
			for b := range topo.Nodes() {
				route := topo.Route(a, b)
				if h := topo.Hops(a, b); h != dist[b] || len(route) != dist[b] {
					t.Fatalf("%s: Hops(%d, %d) = %d, len(Route) = %d; want BFS distance %d", spec, a, b, h, len(route), dist[b])
				}
				checkRoute(t, spec, adj, a, b, route)
			}
		}
	}
}

func TestGridRouteOrder(t *testing.T) {
	tests := []struct {
		spec string
		a, b int
		want []int // nodes visited after a
	}{
		{"torus:4", 0, 2, []int{1, 2}},   // tie: positive way
		{"torus:4", 2, 0, []int{3, 0}},   // tie: positive way, wrapping
		{"torus:5", 0, 3, []int{4, 3}},   // shorter way is negative
		{"torus:4x4", 0, 5, []int{4, 5}}, // dimension 0 first
		{"mesh:4x4", 15, 0, []int{11, 7, 3, 2, 1, 0}},
		{"torus:6x6", 0, 35, []int{30, 35}},
	}
	for _, tt := range tests {
		topo, _ := Parse(tt.spec)
		var got []int
		for _, l := range topo.Route(tt.a, tt.b) {
			got = append(got, l.To)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: Route(%d, %d) visits %v; want %v", tt.spec, tt.a, tt.b, got, tt.want)
		}
	}
}

func dragonflyAdj(d *Dragonfly) []map[int]bool {
	adj := make([]map[int]bool, d.Nodes()+d.Groups*d.Routers)
	for i := range adj {
		adj[i] = map[int]bool{}
	}
	for _, l := range d.Links() {
		adj[l.From][l.To] = true
	}
	return adj
}

func TestDragonflyHopsMatchBFS(t *testing.T) {
	tests := []string{
		"dragonfly:groups=1,routers=3,nodes=2",
		"dragonfly:groups=2,routers=2,nodes=2",
		"dragonfly:groups=4,routers=3,nodes=2",
		"dragonfly:groups=5,routers=2,nodes=1,global=2",
		"dragonfly:groups=5,routers=4,nodes=1,global=1",
		"dragonfly:groups=7,routers=3,nodes=1,global=5",
		"dragonfly:groups=9,routers=4,nodes=2",
	}
	for _, spec := range tests {
		topo, err := Parse(spec)
		if err != nil {
			t.Fatal(err)
		}
		d := topo.(*Dragonfly)
		adj := dragonflyAdj(d)
		v := d.Nodes()
		groupOf := func(x int) int {
			if x < v {
				return d.Group(x)
			}
			return (x - v) / d.Routers
		}
		for a := range v {
			for b := range v {
				// Minimal routing: shortest path that stays in the source
				// and destination groups.
				ga, gb := d.Group(a), d.Group(b)
				dist := bfs(adj, a, func(x int) bool { g := groupOf(x); return g == ga || g == gb })
				route := topo.Route(a, b)
				if h := topo.Hops(a, b); h != dist[b] || len(route) != dist[b] {
					t.Fatalf("%s: Hops(%d, %d) = %d, len(Route) = %d; want BFS distance %d", spec, a, b, h, len(route), dist[b])
				}
				if a != b && (dist[b] < 2 || dist[b] > 5) {
					t.Fatalf("%s: Hops(%d, %d) = %d; want 2..5", spec, a, b, dist[b])
				}
				checkRoute(t, spec, adj, a, b, route)
			}
		}
	}
}

func TestDragonflyWiring(t *testing.T) {
	tests := []struct {
		spec    string
		perPair int
	}{
		{"dragonfly:groups=4,routers=3,nodes=2", 2},
		{"dragonfly:groups=5,routers=4,nodes=1,global=1", 1},
		{"dragonfly:groups=7,routers=3,nodes=1,global=5", 2},
		{"aurora", 2},
	}
	for _, tt := range tests {
		topo, _ := Parse(tt.spec)
		d := topo.(*Dragonfly)
		if d.LinksPerPair() != tt.perPair {
			t.Errorf("%s: LinksPerPair() = %d; want %d", tt.spec, d.LinksPerPair(), tt.perPair)
		}
		v := d.Nodes()
		pair := map[[2]int]int{}
		ports := map[int]int{}
		seen := map[Link]bool{}
		for _, l := range d.Links() {
			if seen[l] {
				t.Fatalf("%s: link %v listed twice", tt.spec, l)
			}
			seen[l] = true
		}
		for l := range seen {
			if l.Kind != Global {
				continue
			}
			g, h := (l.From-v)/d.Routers, (l.To-v)/d.Routers
			if g == h {
				t.Fatalf("%s: global link %v inside group %d", tt.spec, l, g)
			}
			if !seen[Link{Kind: Global, From: l.To, To: l.From, Lane: l.Lane}] {
				t.Fatalf("%s: global link %v has no reverse", tt.spec, l)
			}
			pair[[2]int{g, h}]++
			ports[l.From]++
		}
		for g := range d.Groups {
			for h := range d.Groups {
				if g != h && pair[[2]int{g, h}] != tt.perPair {
					t.Fatalf("%s: %d global links from group %d to %d; want %d", tt.spec, pair[[2]int{g, h}], g, h, tt.perPair)
				}
			}
		}
		for r, n := range ports {
			if n > d.GlobalPerRouter {
				t.Fatalf("%s: router vertex %d has %d global links; want at most %d", tt.spec, r, n, d.GlobalPerRouter)
			}
		}
	}
}

func TestPresets(t *testing.T) {
	fugaku, _ := Parse("fugaku")
	if fugaku.Nodes() != 158976 || fugaku.Group(12) != 1 || fugaku.Group(11) != 0 {
		t.Errorf("fugaku: %d nodes, Group(11), Group(12) = %d, %d; want 158976, 0, 1", fugaku.Nodes(), fugaku.Group(11), fugaku.Group(12))
	}
	// Y = 23 is odd: the farthest Y distance is 11; X and Z 12; A, C 1; B 1.
	far, _ := Index(fugaku, []int{12, 11, 12, 1, 1, 1})
	if h := fugaku.Hops(0, far); h != 12+11+12+1+1+1 {
		t.Errorf("fugaku: Hops(0, %d) = %d; want 38", far, h)
	}
	aurora, _ := Parse("aurora")
	d := aurora.(*Dragonfly)
	maxHops := 0
	for b := 0; b < d.Nodes(); b += 7 {
		maxHops = max(maxHops, d.Hops(3, b))
	}
	if d.Nodes() != 10624 || d.LinksPerPair() != 2 || maxHops != 5 {
		t.Errorf("aurora: %d nodes, %d links per pair, max hops %d; want 10624, 2, 5 (3 switch hops)", d.Nodes(), d.LinksPerPair(), maxHops)
	}
}
