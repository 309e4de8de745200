package topology

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// EnvCoord is the environment variable that gives a rank its node's
// coordinates ("3,0,7"), read by the caller and gathered into PlaceCoords.
const EnvCoord = "KIZUNA_COORD"

// Placement says which node each rank runs on: plain data. Several ranks
// may share a node.
type Placement struct {
	// Topology is the Name of the topology the node indices refer to.
	Topology string `json:"topology"`
	// Nodes[rank] is the rank's node index.
	Nodes []int `json:"nodes"`
}

// Ranks is the number of ranks placed.
func (p Placement) Ranks() int { return len(p.Nodes) }

// Validate checks that every rank is on a node of t.
func (p Placement) Validate(t Topology) error {
	n := t.Nodes()
	for r, node := range p.Nodes {
		if node < 0 || (n > 0 && node >= n) {
			return fmt.Errorf("topology: placement on %s: rank %d on node %d, outside [0, %d)", t.Name(), r, node, n)
		}
	}
	return nil
}

// Place places ranks ranks on t by a placement spec:
//
//	linear[:K]       ranks 0..K-1 on node 0, K..2K-1 on node 1, ...
//	random:SEED[:K]  the same blocks of K ranks on the nodes of a
//	                 permutation drawn from SEED (a uint64)
//
// K, the ranks per node, defaults to ceil(ranks/Nodes()) (1 on a Flat of
// any size). The random permutation is a Fisher-Yates shuffle driven by
// SplitMix64, so a seed gives the same placement on every platform and Go
// version.
func Place(t Topology, spec string, ranks int) (Placement, error) {
	if ranks < 1 {
		return Placement{}, fmt.Errorf("topology: place %d ranks: want at least one", ranks)
	}
	kind, rest, _ := strings.Cut(strings.TrimSpace(strings.ToLower(spec)), ":")
	var seed uint64
	if kind == "random" {
		s, r, _ := strings.Cut(rest, ":")
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return Placement{}, fmt.Errorf("topology: placement %q: seed %q is not an unsigned integer", spec, s)
		}
		seed, rest = v, r
	} else if kind != "" && kind != "linear" {
		return Placement{}, fmt.Errorf("topology: placement %q: unknown kind %q (want linear or random:SEED)", spec, kind)
	}
	nodes := t.Nodes()
	if nodes == 0 {
		nodes = ranks
	}
	per := (ranks + nodes - 1) / nodes
	if rest != "" {
		k, err := strconv.Atoi(rest)
		if err != nil || k < 1 {
			return Placement{}, fmt.Errorf("topology: placement %q: ranks per node %q is not a positive integer", spec, rest)
		}
		per = k
	}
	if (ranks+per-1)/per > nodes {
		return Placement{}, fmt.Errorf("topology: placement %q: %d ranks at %d per node need more than the %d nodes of %s",
			spec, ranks, per, nodes, t.Name())
	}
	order := make([]int, nodes)
	for i := range order {
		order[i] = i
	}
	if kind == "random" {
		shuffle(order, seed)
	}
	p := Placement{Topology: t.Name(), Nodes: make([]int, ranks)}
	for r := range p.Nodes {
		p.Nodes[r] = order[r/per]
	}
	return p, nil
}

// splitmix64 is a fixed generator so that random placements never change.
type splitmix64 uint64

func (s *splitmix64) next() uint64 {
	*s += 0x9e3779b97f4a7c15
	z := uint64(*s)
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

func shuffle(a []int, seed uint64) {
	s := splitmix64(seed)
	for i := len(a) - 1; i > 0; i-- {
		j := int(s.next() % uint64(i+1))
		a[i], a[j] = a[j], a[i]
	}
}

// PlaceCoords builds a placement from each rank's node coordinates
// (coords[rank], as parsed from that rank's KIZUNA_COORD by ParseCoord and
// gathered by the caller).
func PlaceCoords(t Topology, coords [][]int) (Placement, error) {
	p := Placement{Topology: t.Name(), Nodes: make([]int, len(coords))}
	for r, c := range coords {
		n, err := Index(t, c)
		if err != nil {
			return Placement{}, fmt.Errorf("rank %d: %w", r, err)
		}
		p.Nodes[r] = n
	}
	return p, nil
}

// ParseCoord parses coordinates written "3,0,7" (or "3x0x7").
func ParseCoord(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	sep := ","
	if !strings.Contains(s, ",") {
		sep = "x"
	}
	parts := strings.Split(s, sep)
	if len(parts) > maxDims+3 {
		return nil, fmt.Errorf("topology: coordinate %q: too many dimensions", s)
	}
	c := make([]int, len(parts))
	for i, p := range parts {
		v, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || v < 0 {
			return nil, fmt.Errorf("topology: coordinate %q: %q is not a non-negative integer", s, p)
		}
		c[i] = v
	}
	return c, nil
}

// PlacementFile is the JSON placement file: coordinates per rank and per
// host name. A rank listed under Ranks takes those coordinates; any other
// rank takes the coordinates of its host under Hosts.
//
//	{"ranks": {"0": [0, 1]}, "hosts": {"nid001": [3, 0], "nid002": [3, 1]}}
type PlacementFile struct {
	Ranks map[string][]int `json:"ranks,omitempty"`
	Hosts map[string][]int `json:"hosts,omitempty"`
}

// PlaceJSON builds a placement from a JSON PlacementFile; hosts[rank] is
// each rank's host name (gathered by the caller; it may be nil when the
// file lists every rank). The number of ranks is len(hosts), or one more
// than the highest rank in the file when hosts is nil.
func PlaceJSON(t Topology, data []byte, hosts []string) (Placement, error) {
	var f PlacementFile
	if err := json.Unmarshal(data, &f); err != nil {
		return Placement{}, fmt.Errorf("topology: placement file: %w", err)
	}
	byRank := make(map[int][]int, len(f.Ranks))
	ranks := len(hosts)
	for k, c := range f.Ranks {
		r, err := strconv.Atoi(k)
		if err != nil || r < 0 {
			return Placement{}, fmt.Errorf("topology: placement file: rank %q is not a rank number", k)
		}
		if hosts == nil && r >= len(f.Ranks) {
			return Placement{}, fmt.Errorf("topology: placement file: rank %d without host names: the file must list ranks 0..%d", r, len(f.Ranks)-1)
		}
		byRank[r] = c
		if hosts == nil && r+1 > ranks {
			ranks = r + 1
		}
	}
	coords := make([][]int, ranks)
	for r := range coords {
		c, ok := byRank[r]
		if !ok && r < len(hosts) {
			c, ok = f.Hosts[hosts[r]]
		}
		if !ok {
			host := ""
			if r < len(hosts) {
				host = " (host " + strconv.Quote(hosts[r]) + ")"
			}
			return Placement{}, fmt.Errorf("topology: placement file: no coordinates for rank %d%s", r, host)
		}
		coords[r] = c
	}
	p, err := PlaceCoords(t, coords)
	if err != nil {
		return Placement{}, fmt.Errorf("topology: placement file: %w", err)
	}
	return p, nil
}

// PlaceFile reads a JSON PlacementFile from path; see PlaceJSON.
func PlaceFile(t Topology, path string, hosts []string) (Placement, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Placement{}, fmt.Errorf("topology: placement file: %w", err)
	}
	return PlaceJSON(t, data, hosts)
}
