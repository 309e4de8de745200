package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kizuna-hpc/kizuna/topology"
)

func TestTopoTable(t *testing.T) {
	var out, errb bytes.Buffer
	if err := topoCmd([]string{"-topology", "torus:8x8", "-placement", "random:1"}, &out, &errb); err != nil {
		t.Fatalf("topo torus:8x8 = %v (%s)", err, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	rows := map[string][]string{}
	for _, l := range lines[2:] {
		f := strings.Fields(l)
		rows[f[0]] = f
	}
	for _, a := range []string{"ring", "ring-naive", "tree", "hd", "rd", "torus", "swing", "multiring"} {
		if rows[a] == nil {
			t.Errorf("topo torus:8x8 output lacks a row for %s:\n%s", a, out.String())
		}
	}
	if rows["hier"] != nil {
		t.Errorf("topo torus:8x8 lists hier, which needs dragonfly groups:\n%s", out.String())
	}
	// Columns: algo steps max_hops mean_hops max_link_load ...
	if r := rows["ring"]; r != nil && (r[2] != "1" || r[4] != "1") {
		t.Errorf("topo torus:8x8 ring row = %v; want max_hops 1, max_link_load 1", r)
	}
	if r := rows["ring-naive"]; r != nil && (r[2] == "1" || r[4] == "1") {
		t.Errorf("topo torus:8x8 ring-naive row = %v; want max_hops and max_link_load > 1", r)
	}
}

func TestTopoJSON(t *testing.T) {
	var out bytes.Buffer
	args := []string{"-topology", "dragonfly:groups=4,routers=2,nodes=2", "-algo", "ring,ring-naive,hier", "-json"}
	if err := topoCmd(args, &out, io.Discard); err != nil {
		t.Fatalf("topo %v = %v", args, err)
	}
	dec := json.NewDecoder(&out)
	var algos []string
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("decoding topo -json output: %v", err)
		}
		for _, k := range []string{"algo", "max_hops", "mean_hops", "max_link_load", "global_link_crossings", "predicted"} {
			if _, ok := m[k]; !ok {
				t.Errorf("topo -json object %v lacks %q", m, k)
			}
		}
		if g, _ := m["global_link_crossings"].(float64); g <= 0 {
			t.Errorf("topo -json %v: global_link_crossings = %v; want > 0 on a dragonfly", m["algo"], m["global_link_crossings"])
		}
		if p, _ := m["predicted"].([]any); len(p) != len(topoSizes) {
			t.Errorf("topo -json %v: predicted = %v; want %d sizes", m["algo"], m["predicted"], len(topoSizes))
		}
		algos = append(algos, m["algo"].(string))
	}
	if got, want := strings.Join(algos, ","), "ring,ring-naive,hier"; got != want {
		t.Errorf("topo -json algos = %s; want %s", got, want)
	}
}

func TestTopoErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{}, "-topology is required"},
		{[]string{"-topology", "donut:3"}, "-topology"},
		{[]string{"-topology", "fugaku"}, "-np N with N <= 4096"},
		{[]string{"-topology", "flat"}, "-np is required"},
		{[]string{"-topology", "torus:4x4", "-np", "5000"}, "at most 4096"},
		{[]string{"-topology", "torus:4x4", "-np", "-1"}, "-np"},
		{[]string{"-topology", "torus:4x4", "-placement", "random:x"}, "-placement"},
		{[]string{"-topology", "torus:4x4", "-algo", "bogus"}, "bogus"},
		{[]string{"-topology", "torus:4x4", "-algo", "hier"}, "hier needs a dragonfly"},
		{[]string{"-topology", "torus:4x4", "-np", "10", "-algo", "ring,torus"}, "torus needs a torus, mesh or Tofu-D network with the same number of ranks on every node"},
		{[]string{"-topology", "torus:4x4", "extra"}, "unexpected argument"},
	}
	for _, tt := range tests {
		err := topoCmd(tt.args, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("topoCmd(%q) = %v; want an error mentioning %q", tt.args, err, tt.want)
		}
	}
	var ec exitCode
	if err := topoCmd([]string{"-nosuchflag"}, io.Discard, io.Discard); !errors.As(err, &ec) {
		t.Errorf("topoCmd(-nosuchflag) = %v; want an exit status", err)
	}
}

// TestTopoSVG: the drawing is well-formed XML with one node circle per
// node, one ring step (a path) per step between distinct nodes, and one
// link per network link (a torus's wrap-around links included; a
// dragonfly's local, global and injection links).
func TestTopoSVG(t *testing.T) {
	tests := []struct {
		spec               string
		np                 string
		nodes, ring, links int
	}{
		{"torus:4x5", "20", 20, 20, 40},
		{"torus:3x3x3", "27", 27, 27, 81},
		{"torus:2x2x2x2", "16", 16, 16, 32},
		{"mesh:4", "4", 4, 4, 3},
		{"dragonfly:groups=3,routers=2,nodes=2", "12", 12, 12, 3 + 3 + 12}, // local, global (parallel lanes drawn once), inject
		{"flat:5", "5", 5, 5, 0},
		{"torus:4x4", "32", 16, 16, 32},          // two ranks per node: steps within a node are not drawn
		{"tofu:1x1x1", "12", 12, 12, 6 + 12 + 6}, // A, B (3-rings), C
	}
	for _, tt := range tests {
		file := filepath.Join(t.TempDir(), "t.svg")
		args := []string{"-topology", tt.spec, "-np", tt.np, "-placement", "random:4", "-algo", "ring", "-svg", file}
		if err := topoCmd(args, io.Discard, io.Discard); err != nil {
			t.Fatalf("topo %v = %v", args, err)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		count := map[string]int{}
		dec := xml.NewDecoder(bytes.NewReader(data))
		for {
			tok, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("topo -svg %s: not well-formed XML: %v", tt.spec, err)
			}
			if se, ok := tok.(xml.StartElement); ok {
				for _, a := range se.Attr {
					if a.Name.Local == "class" {
						count[se.Name.Local+"."+a.Value]++
					}
				}
			}
		}
		if got := count["circle.node"]; got != tt.nodes {
			t.Errorf("topo -svg %s -np %s: %d node circles; want %d", tt.spec, tt.np, got, tt.nodes)
		}
		if got := count["path.step"]; got != tt.ring {
			t.Errorf("topo -svg %s -np %s: %d ring steps; want %d", tt.spec, tt.np, got, tt.ring)
		}
		if got := count["path.link"] + count["line.link"]; got != tt.links {
			t.Errorf("topo -svg %s -np %s: %d links; want %d", tt.spec, tt.np, got, tt.links)
		}
	}
}

// TestTopoPlacementFile: -placement file:PATH with -hosts, and coords:,
// place ranks as the file says (two ranks per host here).
func TestTopoPlacementFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "place.json")
	if err := os.WriteFile(path, []byte(`{"hosts": {"a": [0, 0], "b": [0, 1], "c": [1, 1], "d": [1, 0]}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string // in the output's first line
		err  string
	}{
		{[]string{"-placement", "file:" + path, "-hosts", "a,a,b,b,c,c,d,d"}, "8 ranks, placement file:", ""},
		{[]string{"-placement", "coords:0,0;1,1;0,1"}, "3 ranks, placement coords:", ""},
		{[]string{"-placement", "file:" + path, "-hosts", "a,x"}, "", `no coordinates for rank 1 (host "x")`},
		{[]string{"-placement", "file:" + path, "-hosts", "a,b", "-np", "3"}, "", "2 hosts for 3 ranks"},
		{[]string{"-placement", "coords:0,0;2,0", "-np", "2"}, "", "dimension 0 is 2"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		args := append([]string{"-topology", "torus:2x2", "-algo", "ring,multiring"}, tt.args...)
		err := topoCmd(args, &out, io.Discard)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("topo %q = %v; want an error mentioning %q", args, err, tt.err)
		case tt.err == "" && err != nil:
			t.Errorf("topo %q = %v", args, err)
		case tt.err == "" && !strings.Contains(out.String(), tt.want):
			t.Errorf("topo %q printed %q; want it to mention %q", args, out.String(), tt.want)
		}
	}
}

// TestTopoPlan: -plan writes a plan that loads back as a valid
// topology.Plan of the placement, whose digest is the one printed, and
// "-plan -" prints the same JSON alone on stdout.
func TestTopoPlan(t *testing.T) {
	file := filepath.Join(t.TempDir(), "plan.json")
	var out, errb bytes.Buffer
	args := []string{"-topology", "torus:4x4", "-placement", "random:2", "-plan", file}
	if err := topoCmd(args, &out, &errb); err != nil {
		t.Fatalf("topo %q = %v (%s)", args, err, errb.String())
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var plan topology.Plan
	if err := json.Unmarshal(data, &plan); err != nil {
		t.Fatalf("topo -plan wrote %q: %v", data, err)
	}
	if err := plan.Validate(); err != nil {
		t.Errorf("topo -plan: Validate() = %v", err)
	}
	tp, _ := topology.Parse("torus:4x4")
	p, err := topology.PlaceBy(tp, "random:2", 16, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(plan.Placement, p.Nodes) || len(plan.Rings) == 0 || len(plan.Trees) != 2 || len(plan.Exchanges) != 3 {
		t.Errorf("topo -plan: placement %v, %d rings, %d trees, %d exchanges; want %v, >0, 2, 3",
			plan.Placement, len(plan.Rings), len(plan.Trees), len(plan.Exchanges), p.Nodes)
	}
	if want := "digest " + plan.Digest(); !strings.Contains(errb.String(), want) {
		t.Errorf("topo -plan printed %q; want it to mention %q", errb.String(), want)
	}
	if !strings.Contains(out.String(), "max_hops") {
		t.Errorf("topo -plan FILE printed %q; want the table too", out.String())
	}
	out.Reset()
	if err := topoCmd([]string{"-topology", "torus:4x4", "-placement", "random:2", "-plan", "-"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if out.String() != string(data) {
		t.Errorf("topo -plan - printed %q; want the file's %q", out.String(), data)
	}
}
