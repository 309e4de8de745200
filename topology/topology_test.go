package topology

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		spec  string
		want  string
		nodes int
		shape []int
	}{
		{"flat", "flat", 0, nil},
		{"", "flat", 0, nil},
		{"FLAT:8", "flat:8", 8, []int{8}},
		{"torus:4x4x4", "torus:4x4x4", 64, []int{4, 4, 4}},
		{"torus:5", "torus:5", 5, []int{5}},
		{"torus:3x1x2x5x2x3", "torus:3x1x2x5x2x3", 180, []int{3, 1, 2, 5, 2, 3}},
		{" Mesh:4x6 ", "mesh:4x6", 24, []int{4, 6}},
		{"tofu:2x3x1", "tofu:2x3x1", 72, []int{2, 3, 1, 2, 3, 2}},
		{"fugaku", "tofu:24x23x24", 158976, []int{24, 23, 24, 2, 3, 2}},
		{"dragonfly:groups=4,routers=3,nodes=2", "dragonfly:groups=4,routers=3,nodes=2,global=2", 24, []int{4, 3, 2}},
		{"dragonfly:nodes=1,global=3,routers=2,groups=5", "dragonfly:groups=5,routers=2,nodes=1,global=3", 10, []int{5, 2, 1}},
		{"dragonfly:groups=1,routers=4,nodes=1", "dragonfly:groups=1,routers=4,nodes=1,global=0", 4, []int{1, 4, 1}},
		{"aurora", "dragonfly:groups=166,routers=32,nodes=2,global=11", 10624, []int{166, 32, 2}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.spec)
		if err != nil {
			t.Errorf("Parse(%q) err = %v; want nil", tt.spec, err)
			continue
		}
		if got.Name() != tt.want || got.Nodes() != tt.nodes || !slices.Equal(got.Shape(), tt.shape) {
			t.Errorf("Parse(%q) = %q, %d nodes, shape %v; want %q, %d, %v",
				tt.spec, got.Name(), got.Nodes(), got.Shape(), tt.want, tt.nodes, tt.shape)
		}
		again, err := Parse(got.Name())
		if err != nil || again.Name() != got.Name() {
			t.Errorf("Parse(%q) = %v, %v; want the same topology back", got.Name(), again, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		spec string
		part string // the part the error must name
	}{
		{"flat:0", "0"},
		{"flat:x", "x"},
		{"ring:4", "ring"},
		{"torus", "torus"},
		{"torus:4x0x4", "0"},
		{"torus:4xx4", ""},
		{"torus:4x-1", "-1"},
		{"mesh:4xa", "a"},
		{"torus:2x2x2x2x2x2x2x2x2", "2x2x2x2x2x2x2x2x2"},
		{"torus:4096x4096", "4096x4096"},
		{"tofu:4x4", "4x4"},
		{"dragonfly:groups=4,routers=2", "groups=4,routers=2"},
		{"dragonfly:groups=4,routers=2,nodes=1,speed=3", "speed"},
		{"dragonfly:groups=4,groups=2,nodes=1,routers=1", "groups"},
		{"dragonfly:groups=4,routers=x,nodes=1", "routers=x"},
		{"dragonfly:groups=4,routers,nodes=1", "routers"},
		{"dragonfly:groups=0,routers=1,nodes=1", "groups=0"},
		{"dragonfly:groups=10,routers=2,nodes=1,global=4", "global=4"},
		{"fugaku:2", "2"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.spec)
		var se *SpecError
		if !errors.As(err, &se) || !errors.Is(err, ErrSpec) {
			t.Errorf("Parse(%q) err = %v; want a *SpecError", tt.spec, err)
			continue
		}
		if se.Part != tt.part || !strings.Contains(err.Error(), tt.spec) {
			t.Errorf("Parse(%q) err = %v (part %q); want part %q", tt.spec, err, se.Part, tt.part)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"flat", "flat:3", "torus:4x4x4", "mesh:3x5", "tofu:1x2x3", "fugaku", "aurora",
		"dragonfly:groups=3,routers=2,nodes=2", "dragonfly:groups=9,routers=4,nodes=1,global=2", "torus:x", "dragonfly:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		topo, err := Parse(spec)
		if err != nil {
			if !errors.Is(err, ErrSpec) {
				t.Fatalf("Parse(%q) err = %v; want ErrSpec", spec, err)
			}
			return
		}
		again, err := Parse(topo.Name())
		if err != nil || again.Name() != topo.Name() || again.Nodes() != topo.Nodes() {
			t.Fatalf("Parse(Parse(%q).Name()) = %v, %v; want %q", spec, again, err, topo.Name())
		}
		if n := topo.Nodes(); n > 0 {
			if n > MaxNodes {
				t.Fatalf("Parse(%q) has %d nodes; want at most %d", spec, n, MaxNodes)
			}
			if h := topo.Hops(0, n-1); h != len(topo.Route(0, n-1)) {
				t.Fatalf("%s: Hops(0, %d) = %d; want len(Route) %d", spec, n-1, h, len(topo.Route(0, n-1)))
			}
		}
	})
}

func TestFlatHops(t *testing.T) {
	f := Flat{N: 4}
	for a := range 4 {
		for b := range 4 {
			want := 1
			if a == b {
				want = 0
			}
			if got := f.Hops(a, b); got != want || len(f.Route(a, b)) != want {
				t.Errorf("Flat.Hops(%d, %d) = %d, route %v; want %d", a, b, got, f.Route(a, b), want)
			}
		}
	}
}

func TestCoordIndex(t *testing.T) {
	tests := []struct {
		spec  string
		node  int
		coord []int
	}{
		{"torus:4x5x6", 0, []int{0, 0, 0}},
		{"torus:4x5x6", 1, []int{0, 0, 1}},
		{"torus:4x5x6", 6, []int{0, 1, 0}},
		{"torus:4x5x6", 119, []int{3, 4, 5}},
		{"tofu:2x2x2", 13, []int{0, 0, 1, 0, 0, 1}},
		{"dragonfly:groups=3,routers=4,nodes=2", 11, []int{1, 1, 1}},
		{"flat", 17, []int{17}},
	}
	for _, tt := range tests {
		topo, err := Parse(tt.spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := Coord(topo, tt.node); !slices.Equal(got, tt.coord) {
			t.Errorf("Coord(%s, %d) = %v; want %v", tt.spec, tt.node, got, tt.coord)
		}
		if got, err := Index(topo, tt.coord); err != nil || got != tt.node {
			t.Errorf("Index(%s, %v) = %d, %v; want %d", tt.spec, tt.coord, got, err, tt.node)
		}
	}
	topo, _ := Parse("torus:4x5")
	for _, c := range [][]int{{4, 0}, {0, -1}, {1}, {1, 2, 3}} {
		if _, err := Index(topo, c); err == nil {
			t.Errorf("Index(torus:4x5, %v) err = nil; want an error", c)
		}
	}
}
