package topology

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestPlace(t *testing.T) {
	tests := []struct {
		spec, place string
		ranks       int
		want        []int
	}{
		{"torus:2x2", "linear", 4, []int{0, 1, 2, 3}},
		{"torus:2x2", "", 8, []int{0, 0, 1, 1, 2, 2, 3, 3}},
		{"torus:2x2", "linear", 6, []int{0, 0, 1, 1, 2, 2}},
		{"torus:2x2", "linear:3", 6, []int{0, 0, 0, 1, 1, 1}},
		{"flat", "linear", 3, []int{0, 1, 2}},
		{"torus:2x3", "random:1", 6, []int{0, 1, 3, 2, 4, 5}},
		{"torus:2x3", "random:1:2", 6, []int{0, 0, 1, 1, 3, 3}},
	}
	for _, tt := range tests {
		topo, _ := Parse(tt.spec)
		p, err := Place(topo, tt.place, tt.ranks)
		if err != nil || !slices.Equal(p.Nodes, tt.want) || p.Topology != topo.Name() {
			t.Errorf("Place(%s, %q, %d) = %v, %v; want %v", tt.spec, tt.place, tt.ranks, p, err, tt.want)
		}
	}
	topo, _ := Parse("torus:8x8")
	a, _ := Place(topo, "random:1", 64)
	b, _ := Place(topo, "random:2", 64)
	sorted := slices.Clone(a.Nodes)
	slices.Sort(sorted)
	if slices.Equal(a.Nodes, b.Nodes) || !slices.Equal(sorted, identity(64)) {
		t.Errorf("Place(torus:8x8, random:1) = %v; want a permutation that differs from random:2", a.Nodes)
	}
	for _, bad := range []string{"random", "random:x", "linear:0", "zigzag", "linear:1"} {
		if _, err := Place(topo, bad, 65); err == nil {
			t.Errorf("Place(torus:8x8, %q, 65) err = nil; want an error", bad)
		}
	}
}

func TestPlaceCoords(t *testing.T) {
	topo, _ := Parse("torus:4x3")
	var coords [][]int
	for _, env := range []string{"1,2", "0,0", "3x1", "1,2"} {
		c, err := ParseCoord(env)
		if err != nil {
			t.Fatal(err)
		}
		coords = append(coords, c)
	}
	p, err := PlaceCoords(topo, coords)
	if want := []int{5, 0, 10, 5}; err != nil || !slices.Equal(p.Nodes, want) {
		t.Errorf("PlaceCoords(torus:4x3, %v) = %v, %v; want %v", coords, p.Nodes, err, want)
	}
	for _, bad := range []string{"1,a", "-1,2", ""} {
		if _, err := ParseCoord(bad); err == nil {
			t.Errorf("ParseCoord(%q) err = nil; want an error", bad)
		}
	}
	if _, err := PlaceCoords(topo, [][]int{{0, 0}, {4, 0}}); err == nil {
		t.Errorf("PlaceCoords(torus:4x3, [[0 0] [4 0]]) err = nil; want an error naming rank 1")
	}
}

func TestPlaceFile(t *testing.T) {
	topo, _ := Parse("mesh:2x3")
	file := `{"ranks": {"1": [1, 2]}, "hosts": {"a": [0, 1], "b": [1, 0]}}`
	path := filepath.Join(t.TempDir(), "place.json")
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		data  string
		hosts []string
		want  []int
		ok    bool
	}{
		{file, []string{"a", "a", "b", "a"}, []int{1, 5, 3, 1}, true},
		{`{"ranks": {"0": [1, 1], "1": [0, 0]}}`, nil, []int{4, 0}, true},
		{`{"ranks": {"0": [1, 1], "5": [0, 0]}}`, nil, nil, false},
		{file, []string{"a", "c"}, []int{1, 5}, true},
		{file, []string{"c"}, nil, false},
		{`{"hosts": {"a": [2, 0]}}`, []string{"a"}, nil, false},
		{`{"hosts": [1]}`, []string{"a"}, nil, false},
	}
	for _, tt := range tests {
		p, err := PlaceJSON(topo, []byte(tt.data), tt.hosts)
		if (err == nil) != tt.ok || (tt.ok && !slices.Equal(p.Nodes, tt.want)) {
			t.Errorf("PlaceJSON(%s, %v) = %v, %v; want %v (ok %v)", tt.data, tt.hosts, p.Nodes, err, tt.want, tt.ok)
		}
	}
	p, err := PlaceFile(topo, path, []string{"b", "x"})
	if want := []int{3, 5}; err != nil || !slices.Equal(p.Nodes, want) {
		t.Errorf("PlaceFile(%s) = %v, %v; want %v", path, p.Nodes, err, want)
	}
}
