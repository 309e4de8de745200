package topology

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Topology is a network of Nodes() nodes with a fixed, deterministic routing.
//
// Node indices run from 0 to Nodes()-1 (any non-negative index for a Flat
// with N == 0). Methods may panic on an index out of range. Implementations
// are immutable values: every method may be called concurrently.
type Topology interface {
	// Name is the canonical spec that Parse accepts to rebuild it.
	Name() string
	// Nodes is the number of nodes; 0 means "any number" (flat).
	Nodes() int
	// Shape is the mixed radix of node coordinates, last coordinate
	// fastest (see Coord and Index); nil for a Flat of any size.
	Shape() []int
	// Hops is the number of links a message from node a to node b
	// crosses under the topology's routing: len(Route(a, b)), 0 when a == b.
	Hops(a, b int) int
	// Route is the sequence of directed links a flow from node a to node b
	// crosses, in order; empty when a == b. The caller owns the slice.
	Route(a, b int) []Link
	// Group is the node's locality group: its dragonfly group, Tofu unit,
	// or torus/mesh plane (the nodes that share its first coordinate);
	// 0 for a Flat or a 1-D torus or mesh.
	Group(node int) int
}

// LinkKind says what a Link is.
type LinkKind uint8

// Link kinds.
const (
	// Direct is the one link of a Flat network between two nodes.
	Direct LinkKind = iota
	// Grid is a link of a torus, mesh or Tofu network between two
	// neighbouring nodes; its Lane is the dimension.
	Grid
	// Inject is a node's link into its dragonfly router.
	Inject
	// Eject is a dragonfly router's link to one of its nodes.
	Eject
	// Local joins two routers of one dragonfly group.
	Local
	// Global joins two routers of different dragonfly groups; its Lane
	// tells parallel global links between the same pair of groups apart.
	Global
)

var linkKindNames = [...]string{"direct", "grid", "inject", "eject", "local", "global"}

// String returns the kind's name ("grid", "global", ...).
func (k LinkKind) String() string {
	if int(k) < len(linkKindNames) {
		return linkKindNames[k]
	}
	return "linkkind(" + strconv.Itoa(int(k)) + ")"
}

// MarshalText encodes the kind as its name.
func (k LinkKind) MarshalText() ([]byte, error) {
	if int(k) >= len(linkKindNames) {
		return nil, fmt.Errorf("topology: unknown link kind %d", k)
	}
	return []byte(linkKindNames[k]), nil
}

// UnmarshalText decodes a kind's name.
func (k *LinkKind) UnmarshalText(b []byte) error {
	for i, n := range linkKindNames {
		if string(b) == n {
			*k = LinkKind(i)
			return nil
		}
	}
	return fmt.Errorf("topology: unknown link kind %q", b)
}

// Link is one directed physical link: plain comparable data, usable as a
// map key. From and To are vertex ids: node indices for Direct and Grid
// links; on a dragonfly, node indices for nodes and Nodes()+router for
// routers (router = group*routers + router-in-group). A link and its
// reverse direction are different Links.
type Link struct {
	Kind LinkKind `json:"kind"`
	From int      `json:"from"`
	To   int      `json:"to"`
	// Lane is the dimension of a Grid link and the parallel-link index of
	// a Global link; 0 otherwise.
	Lane int `json:"lane,omitempty"`
}

// String formats the link as "kind from->to[/lane]".
func (l Link) String() string {
	s := fmt.Sprintf("%v %d->%d", l.Kind, l.From, l.To)
	if l.Lane != 0 {
		s += "/" + strconv.Itoa(l.Lane)
	}
	return s
}

// Flat is a network in which every node is one Direct link from every other.
type Flat struct {
	N int // nodes; 0 for any number
}

var _ Topology = Flat{}

// Name implements Topology.
func (f Flat) Name() string {
	if f.N == 0 {
		return "flat"
	}
	return "flat:" + strconv.Itoa(f.N)
}

// Nodes implements Topology.
func (f Flat) Nodes() int { return f.N }

// Shape implements Topology: [N], or nil for any number of nodes.
func (f Flat) Shape() []int {
	if f.N == 0 {
		return nil
	}
	return []int{f.N}
}

// Hops implements Topology.
func (f Flat) Hops(a, b int) int {
	if a == b {
		return 0
	}
	return 1
}

// Route implements Topology: one Direct link.
func (f Flat) Route(a, b int) []Link {
	if a == b {
		return nil
	}
	return []Link{{Kind: Direct, From: a, To: b}}
}

// Group implements Topology: every node is in group 0.
func (f Flat) Group(int) int { return 0 }

// MaxNodes bounds the node count of a parsed topology (Fugaku has 158,976).
const MaxNodes = 1 << 22

// maxDims bounds the number of torus or mesh dimensions.
const maxDims = 8

// ErrSpec is wrapped by every error that Parse returns.
var ErrSpec = errors.New("topology: bad spec")

// SpecError names the part of a spec that is wrong.
type SpecError struct {
	Spec   string // the whole spec
	Part   string // the offending part
	Reason string
}

func (e *SpecError) Error() string {
	return fmt.Sprintf("topology: spec %q: %q: %s", e.Spec, e.Part, e.Reason)
}

// Unwrap returns ErrSpec.
func (e *SpecError) Unwrap() error { return ErrSpec }

// Parse parses a topology spec. The grammar, case-insensitive:
//
//	flat | flat:N
//	torus:D1xD2x...xDn     n-D torus, any sizes (1 to 8 dimensions)
//	mesh:D1x...xDn         the same without wrap-around links
//	tofu:XxYxZ             Tofu-D: X x Y x Z torus times the 2x3x2 A,B,C unit
//	dragonfly:groups=G,routers=A,nodes=P[,global=H]
//	fugaku                 tofu:24x23x24
//	aurora                 dragonfly:groups=166,routers=32,nodes=2 (global=11)
//
// A spec has at most MaxNodes nodes. The error is a *SpecError naming the
// bad part; it wraps ErrSpec.
func Parse(spec string) (Topology, error) {
	s := strings.TrimSpace(strings.ToLower(spec))
	kind, arg, hasArg := strings.Cut(s, ":")
	bad := func(part, reason string) error {
		return &SpecError{Spec: spec, Part: part, Reason: reason}
	}
	switch kind {
	case "", "flat":
		if !hasArg {
			return Flat{}, nil
		}
		n, err := strconv.Atoi(arg)
		if err != nil || n < 1 || n > MaxNodes {
			return nil, bad(arg, fmt.Sprintf("node count is not an integer in [1, %d]", MaxNodes))
		}
		return Flat{N: n}, nil
	case "torus", "mesh", "tofu":
		if !hasArg {
			return nil, bad(kind, "missing dimensions (e.g. "+kind+":4x4)")
		}
		dims, err := parseDims(arg, bad)
		if err != nil {
			return nil, err
		}
		switch kind {
		case "torus":
			return newGrid(spec, "torus", dims, true, bad)
		case "mesh":
			return newGrid(spec, "mesh", dims, false, bad)
		default:
			if len(dims) != 3 {
				return nil, bad(arg, "tofu wants three dimensions XxYxZ")
			}
			return newGrid(spec, "tofu", append(dims, 2, 3, 2), true, bad)
		}
	case "dragonfly":
		if !hasArg {
			return nil, bad(kind, "missing groups=G,routers=A,nodes=P")
		}
		return parseDragonfly(arg, bad)
	case "fugaku", "aurora":
		if hasArg {
			return nil, bad(arg, "preset "+kind+" takes no arguments")
		}
		if kind == "fugaku" {
			return Parse("tofu:24x23x24")
		}
		return Parse("dragonfly:groups=166,routers=32,nodes=2")
	}
	return nil, bad(kind, "unknown kind (want flat, torus, mesh, tofu, dragonfly, fugaku or aurora)")
}

func parseDims(arg string, bad func(part, reason string) error) ([]int, error) {
	parts := strings.Split(arg, "x")
	if len(parts) > maxDims {
		return nil, bad(arg, fmt.Sprintf("more than %d dimensions", maxDims))
	}
	dims := make([]int, 0, len(parts)+3)
	for _, p := range parts {
		d, err := strconv.Atoi(p)
		if err != nil || d < 1 || d > MaxNodes {
			return nil, bad(p, "dimension is not a positive integer")
		}
		dims = append(dims, d)
	}
	return dims, nil
}

// Coord returns the coordinates of node n in t's Shape, last coordinate
// fastest: node = ((c0*s1 + c1)*s2 + c2)... For a Flat it is [n].
func Coord(t Topology, n int) []int {
	shape := t.Shape()
	if shape == nil {
		return []int{n}
	}
	c := make([]int, len(shape))
	for i := len(shape) - 1; i >= 0; i-- {
		c[i] = n % shape[i]
		n /= shape[i]
	}
	return c
}

// Index returns the node at coordinates c of t's Shape, the inverse of Coord.
func Index(t Topology, c []int) (int, error) {
	shape := t.Shape()
	if shape == nil {
		if len(c) != 1 || c[0] < 0 {
			return 0, fmt.Errorf("topology: %s: coordinate %v: want one non-negative index", t.Name(), c)
		}
		return c[0], nil
	}
	if len(c) != len(shape) {
		return 0, fmt.Errorf("topology: %s: coordinate %v has %d dimensions; want %d", t.Name(), c, len(c), len(shape))
	}
	n := 0
	for i, x := range c {
		if x < 0 || x >= shape[i] {
			return 0, fmt.Errorf("topology: %s: coordinate %v: dimension %d is %d, outside [0, %d)", t.Name(), c, i, x, shape[i])
		}
		n = n*shape[i] + x
	}
	return n, nil
}
