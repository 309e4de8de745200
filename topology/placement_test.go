package topology

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
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

func TestPlaceBy(t *testing.T) {
	topo, _ := Parse("torus:2x3")
	dir := t.TempDir()
	write := func(name, data string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	hostsFile := write("hosts.json", `{"hosts": {"n0": [0, 0], "n1": [1, 2], "n2": [0, 1]}}`)
	ranksFile := write("ranks.json", `{"ranks": {"0": [1, 1], "1": [1, 1], "2": [0, 2]}}`)
	dupFile := write("dup.json", `{"hosts": {"n0": [0, 0], "n1": [0, 0]}}`)
	outFile := write("out.json", `{"hosts": {"n0": [0, 0], "n1": [2, 0]}}`)
	badFile := write("bad.json", `{"hosts": {"n0": [0, 0]`)
	info := func(hostCoord ...string) []RankInfo {
		var out []RankInfo
		for i := 0; i < len(hostCoord); i += 2 {
			out = append(out, RankInfo{Host: hostCoord[i], Coord: hostCoord[i+1]})
		}
		return out
	}
	tests := []struct {
		spec    string
		ranks   int
		info    []RankInfo
		want    []int
		wantErr string // substring of the error; "" for success
	}{
		{"linear", 3, nil, []int{0, 1, 2}, ""},
		{"random:1:2", 4, nil, nil, ""},
		{"file:" + hostsFile, 4, info("n1", "", "n1", "", "n0", "", "n2", ""), []int{5, 5, 0, 1}, ""},
		{"file:" + ranksFile, 3, nil, []int{4, 4, 2}, ""},
		{"file:" + ranksFile, 4, nil, nil, "places 3 ranks; want 4"},
		{"file:" + hostsFile, 2, info("n1", "", "n9", ""), nil, `rank 1 (host "n9")`},
		{"file:" + dupFile, 2, info("n0", "", "n1", ""), nil, "duplicate coordinate [0 0]"},
		{"file:" + outFile, 1, info("n0", ""), nil, "dimension 0 is 2, outside [0, 2)"},
		{"file:" + badFile, 1, info("n0", ""), nil, "placement file"},
		{"file:" + filepath.Join(dir, "missing.json"), 1, nil, nil, "no such file"},
		{"file:", 1, nil, nil, "missing path"},
		{"coord", 4, info("a", "1,2", "a", "1,2", "b", "0,0", "c", "0x1"), []int{5, 5, 0, 1}, ""},
		{"", 2, info("a", "1,2", "b", "0,0"), []int{5, 0}, ""},
		{"", 2, info("a", "", "b", ""), []int{0, 1}, ""},
		{"", 2, info("a", "1,2", "b", ""), nil, "set on rank 0 but not on rank 1"},
		{"coord", 2, info("a", "1,2", "b", ""), nil, "rank 1 has no KIZUNA_COORD"},
		{"coord", 2, info("a", "1,2", "b", "1,2"), nil, `duplicate coordinate [1 2] on torus:2x3: rank 0 on host "a" and rank 1 on host "b"`},
		{"coord", 2, info("a", "1,2", "b", "1,3"), nil, `rank 1: KIZUNA_COORD "1,3": topology: torus:2x3: coordinate [1 3]: dimension 1 is 3, outside [0, 3)`},
		{"coord", 1, info("a", "1,2,0"), nil, "has 3 dimensions; want 2"},
		{"coord", 1, info("a", "x"), nil, "not a non-negative integer"},
		{"coords:0,0;1,2;1,2", 3, nil, []int{0, 5, 5}, ""},
		{"coords:0,0;1,2", 3, nil, nil, "2 coordinates for 3 ranks"},
		{"hilbert", 3, nil, nil, "unknown kind"},
	}
	for _, tt := range tests {
		p, err := PlaceBy(topo, tt.spec, tt.ranks, tt.info)
		switch {
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("PlaceBy(%q, %d, %v) err = %v; want one containing %q", tt.spec, tt.ranks, tt.info, err, tt.wantErr)
		case tt.wantErr == "" && err != nil:
			t.Errorf("PlaceBy(%q, %d, %v) err = %v; want nil", tt.spec, tt.ranks, tt.info, err)
		case tt.wantErr == "" && tt.want != nil && !slices.Equal(p.Nodes, tt.want):
			t.Errorf("PlaceBy(%q, %d, %v) = %v; want %v", tt.spec, tt.ranks, tt.info, p.Nodes, tt.want)
		case tt.wantErr == "" && p.Ranks() != tt.ranks:
			t.Errorf("PlaceBy(%q, %d, ...) placed %d ranks; want %d", tt.spec, tt.ranks, p.Ranks(), tt.ranks)
		}
	}
	for spec, want := range map[string]bool{"": true, "coord": true, "file:x": true, "FILE:x": true, "linear": false, "random:3": false, "coords:0,0": false} {
		if got := NeedsRankInfo(spec); got != want {
			t.Errorf("NeedsRankInfo(%q) = %v; want %v", spec, got, want)
		}
	}
}
