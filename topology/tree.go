package topology

import (
	"fmt"
	"sort"
)

// DoubleTree returns two spanning trees over the ranks of placement p that
// respect t's locality groups (Topology.Group: a dragonfly group, a Tofu
// unit, a torus plane), for a pipelined double-binary-tree all-reduce
// (Sanders, Speck & Träff 2009; NCCL's tree).
//
// The ranks of each group form one connected subtree hanging from the
// group's leader, so exactly groups-1 tree edges join different groups:
//
//   - Inside a group, ranks are taken in EmbedRing order (reversed for the
//     second tree); the first is the leader and the others form an
//     in-order binary tree (node i's children i -/+ lowbit(i)/2) whose root
//     is the leader's one intra-group child.
//   - Groups are sorted by size, largest first (ties by ring order, reversed
//     for the second tree), and joined as a binary heap: the leader of
//     group i has the leaders of groups 2i+1 and 2i+2 as children. The
//     root is the leader of the largest group.
//
// Guarantees, tested: each tree spans all ranks; a leader has at most three
// children (two leaders, then its group's root), any other rank at most
// two; depth <= floor(log2 n) + 1 <= ceil(log2 n) + 1 (a group at heap
// index i has at most n/(i+1) ranks); when every group has an even number
// of ranks, no rank has children in both trees.
func DoubleTree(t Topology, p Placement) ([2]Tree, error) {
	n := len(p.Nodes)
	if n == 0 {
		return [2]Tree{}, fmt.Errorf("topology: double tree over no ranks")
	}
	ring, err := EmbedRing(t, p)
	if err != nil {
		return [2]Tree{}, err
	}
	// Groups in order of first appearance on the ring.
	index := map[int]int{}
	var groups [][]int
	for _, r := range ring.Ranks {
		g := t.Group(p.Nodes[r])
		i, ok := index[g]
		if !ok {
			i = len(groups)
			index[g] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], r)
	}
	var out [2]Tree
	for k := range out {
		order := make([][]int, len(groups))
		for i, g := range groups {
			order[i] = append([]int(nil), g...)
			if k == 1 {
				for a, b := 0, len(order[i])-1; a < b; a, b = a+1, b-1 {
					order[i][a], order[i][b] = order[i][b], order[i][a]
				}
			}
		}
		if k == 1 {
			for a, b := 0, len(order)-1; a < b; a, b = a+1, b-1 {
				order[a], order[b] = order[b], order[a]
			}
		}
		sort.SliceStable(order, func(a, b int) bool { return len(order[a]) > len(order[b]) })
		out[k] = buildTree(n, order)
	}
	return out, nil
}

func buildTree(n int, groups [][]int) Tree {
	t := Tree{Parent: make([]int, n), Children: make([][]int, n)}
	link := func(parent, child int) {
		t.Parent[child] = parent
		t.Children[parent] = append(t.Children[parent], child)
	}
	t.Root = groups[0][0]
	t.Parent[t.Root] = -1
	for i, g := range groups {
		if i > 0 {
			link(groups[(i-1)/2][0], g[0])
		}
	}
	for _, g := range groups {
		rest := g[1:]
		k := len(rest)
		if k == 0 {
			continue
		}
		root := 1
		for root*2 <= k {
			root *= 2
		}
		link(g[0], rest[root-1])
		for i := 1; i <= k; i++ {
			b := i & -i
			if b > 1 {
				link(rest[i-1], rest[i-b/2-1])
			}
			h := b / 2
			for h >= 1 && i+h > k {
				h /= 2
			}
			if h >= 1 {
				link(rest[i-1], rest[i+h-1])
			}
		}
	}
	return t
}
