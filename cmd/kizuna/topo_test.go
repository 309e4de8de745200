package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
		{[]string{"-topology", "torus:4x4", "-algo", "hier"}, "hier"},
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
// node and one ring line per step between distinct nodes.
func TestTopoSVG(t *testing.T) {
	tests := []struct {
		spec        string
		np          string
		nodes, ring int
	}{
		{"torus:4x5", "20", 20, 20},
		{"torus:3x3x3", "27", 27, 27},
		{"torus:2x2x2x2", "16", 16, 16},
		{"mesh:4", "4", 4, 4},
		{"dragonfly:groups=3,routers=2,nodes=2", "12", 12, 12},
		{"flat:5", "5", 5, 5},
		{"torus:4x4", "32", 16, 16}, // two ranks per node: steps within a node are not drawn
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
		nodes, lines := 0, 0
		dec := xml.NewDecoder(bytes.NewReader(data))
		for {
			tok, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("topo -svg %s: not well-formed XML: %v", tt.spec, err)
			}
			se, ok := tok.(xml.StartElement)
			if !ok {
				continue
			}
			class := ""
			for _, a := range se.Attr {
				if a.Name.Local == "class" {
					class = a.Value
				}
			}
			switch {
			case se.Name.Local == "circle" && class == "node":
				nodes++
			case se.Name.Local == "line":
				lines++
			}
		}
		if nodes != tt.nodes || lines != tt.ring {
			t.Errorf("topo -svg %s -np %s: %d node circles, %d ring lines; want %d, %d", tt.spec, tt.np, nodes, lines, tt.nodes, tt.ring)
		}
	}
}
