package topology

import (
	"math/bits"
	"testing"
)

func ceilLog2(n int) int { return bits.Len(uint(n - 1)) }

func TestDoubleTree(t *testing.T) {
	tests := []struct {
		spec, place string
		ranks       int
		evenGroups  bool // every group holds an even number of ranks
	}{
		{"flat", "linear", 1, false},
		{"flat", "linear", 2, true},
		{"flat", "linear", 13, false},
		{"flat:8", "random:3", 8, true},
		{"torus:8x8", "random:1", 64, true},
		{"torus:8x8", "linear", 128, true},
		{"torus:3x5", "random:4", 15, false},
		{"torus:5x4x3", "random:9", 60, true},
		{"torus:7", "linear", 7, false},
		{"mesh:3x3", "random:2", 9, false},
		{"tofu:2x1x2", "random:8", 48, true},
		{"dragonfly:groups=4,routers=3,nodes=2", "random:5", 24, true},
		{"dragonfly:groups=5,routers=3,nodes=1", "random:6", 11, false}, // groups of uneven sizes
		{"dragonfly:groups=9,routers=4,nodes=2", "linear", 72, true},
	}
	for _, tt := range tests {
		topo, err := Parse(tt.spec)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Place(topo, tt.place, tt.ranks)
		if err != nil {
			t.Fatal(err)
		}
		trees, err := DoubleTree(topo, p)
		if err != nil {
			t.Fatal(err)
		}
		groups := map[int]bool{}
		for _, node := range p.Nodes {
			groups[topo.Group(node)] = true
		}
		for k, tr := range trees {
			if err := tr.Validate(tt.ranks); err != nil {
				t.Fatalf("DoubleTree(%s, %s)[%d]: %v", tt.spec, tt.place, k, err)
			}
			if d, limit := tr.Depth(), ceilLog2(tt.ranks)+1; d > limit {
				t.Errorf("DoubleTree(%s, %s)[%d].Depth() = %d; want at most %d", tt.spec, tt.place, k, d, limit)
			}
			cross := 0
			for r, parent := range tr.Parent {
				if parent >= 0 && topo.Group(p.Nodes[r]) != topo.Group(p.Nodes[parent]) {
					cross++
				}
				if len(tr.Children[r]) > 3 {
					t.Errorf("DoubleTree(%s, %s)[%d]: rank %d has %d children; want at most 3", tt.spec, tt.place, k, r, len(tr.Children[r]))
				}
			}
			if cross != len(groups)-1 {
				t.Errorf("DoubleTree(%s, %s)[%d]: %d edges between groups; want %d (one per group but the root's)",
					tt.spec, tt.place, k, cross, len(groups)-1)
			}
		}
		if tt.evenGroups {
			for r := range tt.ranks {
				if len(trees[0].Children[r]) > 0 && len(trees[1].Children[r]) > 0 {
					t.Errorf("DoubleTree(%s, %s): rank %d is interior in both trees", tt.spec, tt.place, r)
				}
			}
		}
	}
}
