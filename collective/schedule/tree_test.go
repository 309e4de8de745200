package schedule

import (
	"slices"
	"testing"
)

// checkTrees checks that d holds two spanning trees over p ranks rooted at
// roots, with at most maxKids children per rank and distinct, causal send
// times, and returns the ranks interior (with children) in both trees.
func checkTrees(t *testing.T, name string, d *dtree, p int, roots [2]int, maxKids int) []int {
	t.Helper()
	for tr := range 2 {
		if d.root[tr] != roots[tr] {
			t.Errorf("%s p=%d: tree %d root = %d; want %d", name, p, tr, d.root[tr], roots[tr])
		}
		seen := make([]bool, p)
		var walk func(x int)
		walk = func(x int) {
			if seen[x] {
				t.Errorf("%s p=%d: tree %d reaches rank %d twice", name, p, tr, x)
				return
			}
			seen[x] = true
			if k := len(d.children[tr][x]); k > maxKids {
				t.Errorf("%s p=%d: tree %d rank %d has %d children; want <= %d", name, p, tr, x, k, maxKids)
			}
			var times []int
			for _, c := range d.children[tr][x] {
				if d.parent[tr][c] != x {
					t.Errorf("%s p=%d: tree %d child %d of %d has parent %d", name, p, tr, c, x, d.parent[tr][c])
				}
				if d.send[tr][c] >= d.send[tr][x] {
					t.Errorf("%s p=%d: tree %d child %d sends at %d, not before its parent %d at %d",
						name, p, tr, c, d.send[tr][c], x, d.send[tr][x])
				}
				times = append(times, d.send[tr][c])
				walk(c)
			}
			slices.Sort(times)
			if len(slices.Compact(times)) != len(d.children[tr][x]) {
				t.Errorf("%s p=%d: tree %d children of %d share a send time", name, p, tr, x)
			}
		}
		walk(d.root[tr])
		for r, ok := range seen {
			if !ok {
				t.Errorf("%s p=%d: tree %d misses rank %d", name, p, tr, r)
			}
		}
	}
	var both []int
	for r := range p {
		if len(d.children[0][r]) > 0 && len(d.children[1][r]) > 0 {
			both = append(both, r)
		}
	}
	return both
}

// TestAllReduceTrees: NCCL's double binary tree is two spanning binary trees
// in which every rank is interior in at most one, except rank 0 for odd p.
func TestAllReduceTrees(t *testing.T) {
	for p := 2; p <= 70; p++ {
		second := p - 1
		if p%2 == 1 {
			second = 1
		}
		both := checkTrees(t, "allReduceTrees", allReduceTrees(p), p, [2]int{0, second}, 2)
		var want []int
		if p%2 == 1 && p > 1 {
			want = []int{0}
		}
		if !slices.Equal(both, want) {
			t.Errorf("allReduceTrees(%d): ranks interior in both trees = %v; want %v", p, both, want)
		}
	}
}

// TestRootedTrees: Broadcast and Reduce trees are rooted at the root, which
// has one child per tree; the other ranks form a double binary tree.
func TestRootedTrees(t *testing.T) {
	for p := 2; p <= 40; p++ {
		for _, root := range []int{0, 1, p / 2, p - 1} {
			d := rootedTrees(p, root)
			both := slices.DeleteFunc(checkTrees(t, "rootedTrees", d, p, [2]int{root, root}, 2),
				func(r int) bool { return r == root })
			for tr := range 2 {
				if k := len(d.children[tr][root]); k != 1 {
					t.Errorf("rootedTrees(%d, %d): root has %d children in tree %d; want 1", p, root, k, tr)
				}
			}
			// Among the non-root ranks, only the first tree's top (for an
			// odd count of them) may be interior in both.
			if len(both) > 1 || len(both) == 1 && ((p-1)%2 == 0 || both[0] != (root+1)%p) {
				t.Errorf("rootedTrees(%d, %d): ranks interior in both trees = %v", p, root, both)
			}
		}
	}
}

// TestBtreeParentMatchesNCCL pins the tree shapes drawn in NCCL's trees.cc.
func TestBtreeParentMatchesNCCL(t *testing.T) {
	tests := []struct {
		n    int
		want []int // parent of each rank
	}{
		// 0---8, 8->4,10; 4->2,6; 2->1,3; 6->5,7; 10->9,11.
		{12, []int{-1, 2, 4, 2, 8, 6, 4, 6, 0, 10, 8, 10}},
		{3, []int{-1, 2, 0}},
		{1, []int{-1}},
	}
	for _, tt := range tests {
		got := make([]int, tt.n)
		for r := range tt.n {
			got[r] = btreeParent(tt.n, r)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("btreeParent(%d, ·) = %v; want %v", tt.n, got, tt.want)
		}
	}
	// Mirror for even n (trees.cc: 3 roots the second tree of 12 ranks
	// drawn as 3---11, 11->7, 7->... mirrored ids 11-r).
	if got := secondParent(12, 11); got != -1 {
		t.Errorf("secondParent(12, 11) = %d; want -1 (root)", got)
	}
	if got := secondParent(12, 3); got != 11 {
		t.Errorf("secondParent(12, 3) = %d; want 11", got)
	}
	// Shift for odd n: 1 roots the second tree of 13 ranks, child 9.
	if got := secondParent(13, 1); got != -1 {
		t.Errorf("secondParent(13, 1) = %d; want -1 (root)", got)
	}
	if got := secondParent(13, 9); got != 1 {
		t.Errorf("secondParent(13, 9) = %d; want 1", got)
	}
}
