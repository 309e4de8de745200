package topology

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// Ring is a cyclic order of ranks: Ranks[i] sends to Ranks[(i+1) % n].
type Ring struct {
	Ranks []int `json:"ranks"`
}

// Next returns the successor of rank r in the ring, or -1 when r is absent.
func (r Ring) Next(rank int) int {
	for i, x := range r.Ranks {
		if x == rank {
			return r.Ranks[(i+1)%len(r.Ranks)]
		}
	}
	return -1
}

// Reverse returns the ring run the other way round, from the same first rank.
func (r Ring) Reverse() Ring {
	n := len(r.Ranks)
	out := Ring{Ranks: make([]int, n)}
	for i := range n {
		out.Ranks[i] = r.Ranks[(n-i)%n]
	}
	return out
}

// Flows returns the flows of one ring step: every rank to its successor.
func (r Ring) Flows() []Flow {
	n := len(r.Ranks)
	if n < 2 {
		return nil
	}
	out := make([]Flow, n)
	for i, x := range r.Ranks {
		out[i] = Flow{Src: x, Dst: r.Ranks[(i+1)%n]}
	}
	return out
}

// Validate checks that the ring holds each of ranks 0..n-1 exactly once.
func (r Ring) Validate(n int) error {
	if len(r.Ranks) != n {
		return fmt.Errorf("topology: ring has %d ranks; want %d", len(r.Ranks), n)
	}
	seen := make([]bool, n)
	for _, x := range r.Ranks {
		if x < 0 || x >= n || seen[x] {
			return fmt.Errorf("topology: ring: rank %d repeated or outside [0, %d)", x, n)
		}
		seen[x] = true
	}
	return nil
}

// Tree is a rooted spanning tree of ranks 0..n-1: Parent[r] is r's parent
// (-1 for the root) and Children[r] its children, in send order.
type Tree struct {
	Root     int     `json:"root"`
	Parent   []int   `json:"parent"`
	Children [][]int `json:"children"`
}

// Depth is the largest number of edges from the root to a rank.
func (t Tree) Depth() int {
	depth := 0
	for r := range t.Parent {
		d := 0
		for x := r; x != t.Root && x >= 0 && x < len(t.Parent) && d <= len(t.Parent); x = t.Parent[x] {
			d++
		}
		depth = max(depth, d)
	}
	return depth
}

// Validate checks that the tree spans ranks 0..n-1: one root, parents and
// children agree, and every rank reaches the root.
func (t Tree) Validate(n int) error {
	if len(t.Parent) != n || len(t.Children) != n {
		return fmt.Errorf("topology: tree over %d/%d ranks; want %d", len(t.Parent), len(t.Children), n)
	}
	if t.Root < 0 || t.Root >= n || t.Parent[t.Root] != -1 {
		return fmt.Errorf("topology: tree: root %d is not a rank without parent", t.Root)
	}
	edges := 0
	for r, cs := range t.Children {
		for _, c := range cs {
			if c < 0 || c >= n || t.Parent[c] != r {
				return fmt.Errorf("topology: tree: rank %d lists child %d whose parent is not %d", r, c, r)
			}
			edges++
		}
	}
	if edges != n-1 {
		return fmt.Errorf("topology: tree: %d edges; want %d", edges, n-1)
	}
	for r := range n {
		x, steps := r, 0
		for x != t.Root {
			x = t.Parent[x]
			if x < 0 || x >= n || steps > n {
				return fmt.Errorf("topology: tree: rank %d does not reach the root", r)
			}
			steps++
		}
	}
	return nil
}

// Exchange is a schedule of pairwise steps: Partners[s][r] is the rank that
// rank r exchanges with at step s, or -1 when it sits the step out.
type Exchange struct {
	Name     string  `json:"name"`
	Partners [][]int `json:"partners"`
}

// Plan is everything a collective needs from the topology, as plain data
// that ranks can print, save, load and compare (Digest).
type Plan struct {
	Topology  string     `json:"topology"`
	Placement []int      `json:"placement"` // node of each rank
	Rings     []Ring     `json:"rings,omitempty"`
	Trees     []Tree     `json:"trees,omitempty"`
	Exchanges []Exchange `json:"exchanges,omitempty"`
}

// Digest is the hex SHA-256 of a canonical binary encoding of the plan
// (varint lengths and values, fields in declaration order), so nil and
// empty slices digest alike and ranks that built the same plan agree.
func (p Plan) Digest() string {
	h := sha256.New()
	var buf [binary.MaxVarintLen64]byte
	putI := func(v int) { h.Write(buf[:binary.PutVarint(buf[:], int64(v))]) }
	putS := func(s string) { putI(len(s)); h.Write([]byte(s)) }
	putL := func(a []int) {
		putI(len(a))
		for _, v := range a {
			putI(v)
		}
	}
	putS("kizuna-plan-v1")
	putS(p.Topology)
	putL(p.Placement)
	putI(len(p.Rings))
	for _, r := range p.Rings {
		putL(r.Ranks)
	}
	putI(len(p.Trees))
	for _, t := range p.Trees {
		putI(t.Root)
		putL(t.Parent)
		putI(len(t.Children))
		for _, c := range t.Children {
			putL(c)
		}
	}
	putI(len(p.Exchanges))
	for _, e := range p.Exchanges {
		putS(e.Name)
		putI(len(e.Partners))
		for _, s := range e.Partners {
			putL(s)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Validate checks every ring, tree and exchange against the placement's
// rank count.
func (p Plan) Validate() error {
	n := len(p.Placement)
	for i, r := range p.Rings {
		if err := r.Validate(n); err != nil {
			return fmt.Errorf("ring %d: %w", i, err)
		}
	}
	for i, t := range p.Trees {
		if err := t.Validate(n); err != nil {
			return fmt.Errorf("tree %d: %w", i, err)
		}
	}
	for i, e := range p.Exchanges {
		for s, ps := range e.Partners {
			if len(ps) != n {
				return fmt.Errorf("topology: exchange %d step %d: %d partners; want %d", i, s, len(ps), n)
			}
			for r, q := range ps {
				if q < -1 || q >= n {
					return fmt.Errorf("topology: exchange %d step %d: rank %d partner %d outside [-1, %d)", i, s, r, q, n)
				}
			}
		}
	}
	return nil
}
