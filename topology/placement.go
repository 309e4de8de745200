package topology

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
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
	// Two host names on one node are two machines claiming the same
	// coordinates: a mistake in the file.
	hostAt := make(map[int]string, len(f.Hosts))
	hostNames := make([]string, 0, len(f.Hosts))
	for h := range f.Hosts {
		hostNames = append(hostNames, h)
	}
	sort.Strings(hostNames)
	for _, h := range hostNames {
		n, err := Index(t, f.Hosts[h])
		if err != nil {
			return Placement{}, fmt.Errorf("topology: placement file: host %q: %w", h, err)
		}
		if other, dup := hostAt[n]; dup {
			return Placement{}, fmt.Errorf("topology: placement file: duplicate coordinate %v: hosts %q and %q", f.Hosts[h], other, h)
		}
		hostAt[n] = h
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
		if hosts != nil && r >= len(hosts) {
			return Placement{}, fmt.Errorf("topology: placement file: rank %d, but the job has %d ranks", r, len(hosts))
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

// RankInfo is what one rank says about itself for a placement: the name of
// its host and its KIZUNA_COORD value ("" when unset). A communicator
// gathers every rank's RankInfo when it starts.
type RankInfo struct {
	Host  string `json:"host,omitempty"`
	Coord string `json:"coord,omitempty"`
}

// NeedsRankInfo reports whether a placement spec reads the ranks'
// RankInfo (file:PATH, coord; and "", which takes coordinates when every
// rank has one), so that the caller must gather it first.
func NeedsRankInfo(spec string) bool {
	kind, _, _ := strings.Cut(strings.TrimSpace(spec), ":")
	switch strings.ToLower(kind) {
	case "", "file", "coord":
		return true
	}
	return false
}

// PlaceBy places ranks ranks on t by any placement spec:
//
//	linear[:K], random:SEED[:K]  see Place
//	file:PATH          a JSON PlacementFile (see PlaceJSON) read from PATH;
//	                   info[r].Host is rank r's host name
//	coord              info[r].Coord, rank r's KIZUNA_COORD ("3,0,7")
//	coords:C0;C1;...   the coordinates of ranks 0, 1, ... listed
//	""                 coord when every rank has a Coord, linear when none
//	                   has, an error naming a rank without one otherwise
//
// info is indexed by rank and may be nil or short when the spec does not
// read it (NeedsRankInfo). Several ranks may name one node. When host
// names are known, two ranks on one node must have the same host: two hosts
// that claim the same coordinates are an error ("duplicate coordinate"),
// while one host may stand for several nodes (a test on one machine).
func PlaceBy(t Topology, spec string, ranks int, info []RankInfo) (Placement, error) {
	kind, arg, _ := strings.Cut(strings.TrimSpace(spec), ":")
	kind = strings.ToLower(kind)
	if ranks < 1 {
		return Placement{}, fmt.Errorf("topology: place %d ranks: want at least one", ranks)
	}
	if kind != "linear" && kind != "random" && len(info) > 0 && len(info) != ranks {
		return Placement{}, fmt.Errorf("topology: placement %q: information about %d ranks; want %d", spec, len(info), ranks)
	}
	infoAt := func(r int) RankInfo {
		if r < len(info) {
			return info[r]
		}
		return RankInfo{}
	}
	var (
		p   Placement
		err error
	)
	switch kind {
	case "linear", "random":
		return Place(t, spec, ranks)
	case "file":
		if arg == "" {
			return Placement{}, fmt.Errorf("topology: placement %q: missing path (file:PATH)", spec)
		}
		var hosts []string
		for r := range ranks {
			if h := infoAt(r).Host; h != "" || hosts != nil {
				if hosts == nil {
					hosts = make([]string, ranks)
				}
				hosts[r] = h
			}
		}
		p, err = PlaceFile(t, arg, hosts)
		if err == nil && p.Ranks() != ranks {
			err = fmt.Errorf("topology: placement file %s places %d ranks; want %d", arg, p.Ranks(), ranks)
		}
	case "coords":
		list := strings.Split(arg, ";")
		if len(list) != ranks {
			return Placement{}, fmt.Errorf("topology: placement %q: %d coordinates for %d ranks", spec, len(list), ranks)
		}
		p, err = placeCoordStrings(t, list, "")
	case "coord", "":
		list := make([]string, ranks)
		var with, without []int
		for r := range ranks {
			list[r] = infoAt(r).Coord
			if list[r] == "" {
				without = append(without, r)
			} else {
				with = append(with, r)
			}
		}
		switch {
		case kind == "" && len(with) == 0:
			return Place(t, "linear", ranks)
		case len(without) > 0 && kind == "coord":
			return Placement{}, fmt.Errorf("topology: placement coord: rank %d has no %s (every rank needs one)", without[0], EnvCoord)
		case len(without) > 0:
			return Placement{}, fmt.Errorf("topology: %s is set on rank %d but not on rank %d: set it on every rank or on none",
				EnvCoord, with[0], without[0])
		}
		p, err = placeCoordStrings(t, list, EnvCoord+" ")
	default:
		return Placement{}, fmt.Errorf("topology: placement %q: unknown kind %q (want linear, random:SEED, file:PATH, coord or coords:C0;C1;...)", spec, kind)
	}
	if err != nil {
		return Placement{}, err
	}
	if err := checkHosts(t, p, info); err != nil {
		return Placement{}, err
	}
	return p, nil
}

// placeCoordStrings parses one coordinate string per rank and places them;
// what names where the strings came from in errors.
func placeCoordStrings(t Topology, list []string, what string) (Placement, error) {
	p := Placement{Topology: t.Name(), Nodes: make([]int, len(list))}
	for r, s := range list {
		c, err := ParseCoord(s)
		if err == nil {
			p.Nodes[r], err = Index(t, c)
		}
		if err != nil {
			return Placement{}, fmt.Errorf("topology: rank %d: %s%q: %w", r, what, s, err)
		}
	}
	return p, nil
}

// checkHosts fails when two ranks on one node name different hosts.
func checkHosts(t Topology, p Placement, info []RankInfo) error {
	first := make(map[int]int, len(p.Nodes)) // node -> first rank with a host there
	for r, n := range p.Nodes {
		if r >= len(info) || info[r].Host == "" {
			continue
		}
		f, ok := first[n]
		if !ok {
			first[n] = r
			continue
		}
		if info[f].Host != info[r].Host {
			return fmt.Errorf("topology: duplicate coordinate %v on %s: rank %d on host %q and rank %d on host %q",
				Coord(t, n), t.Name(), f, info[f].Host, r, info[r].Host)
		}
	}
	return nil
}
