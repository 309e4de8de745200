package topology

import (
	"fmt"
	"strconv"
	"strings"
)

// Topology is a network of Nodes() nodes.
type Topology interface {
	// Name is the spec that Parse accepts to rebuild it.
	Name() string
	// Nodes is the number of nodes; 0 means "any number" (flat).
	Nodes() int
	// Hops is the number of links a message from node a to node b crosses
	// (0 when a == b).
	Hops(a, b int) int
}

// Flat is a network in which every node is one hop from every other.
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

// Hops implements Topology.
func (f Flat) Hops(a, b int) int {
	if a == b {
		return 0
	}
	return 1
}

// Parse parses a topology spec: "flat" or "flat:N". The error names the bad
// part of the spec.
func Parse(spec string) (Topology, error) {
	s := strings.TrimSpace(strings.ToLower(spec))
	kind, arg, hasArg := strings.Cut(s, ":")
	switch kind {
	case "", "flat":
		if !hasArg {
			return Flat{}, nil
		}
		n, err := strconv.Atoi(arg)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("topology: %q: node count %q is not a positive integer", spec, arg)
		}
		return Flat{N: n}, nil
	}
	return nil, fmt.Errorf("topology: %q: unknown kind %q (want flat)", spec, kind)
}
