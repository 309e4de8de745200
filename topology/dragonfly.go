package topology

import (
	"fmt"
	"strconv"
	"strings"
)

// Dragonfly is a one-level dragonfly: Groups groups of Routers routers
// joined all-to-all inside the group by Local links, NodesPerRouter nodes
// on each router (Inject and Eject links), and Global router-to-router
// links between groups, GlobalPerRouter per router.
//
// Global wiring: the groups' global ports are spread so that every pair of
// groups has the same number L = floor(Routers*GlobalPerRouter/(Groups-1))
// of global links (parallel links have Lanes 0..L-1). Link c between groups
// g and h leaves g from router (c*(Groups-1) + (h-g-1 mod Groups)) mod
// Routers, and enters h at the router that the same rule gives from h's
// side. The default GlobalPerRouter is the least that gives two links
// between every pair of groups, as on Aurora.
//
// Node n sits on router n / NodesPerRouter; router r is in group
// r / Routers. Coordinates (Shape) are (group, router in group, node on
// router).
//
// Routing is minimal local-global-local: inject, at most one local hop to a
// router with a global link to the destination group, the global link, at
// most one local hop, eject. Among the L global links to the destination
// group the route takes the one with the fewest hops, the lowest lane on a
// tie. Hops counts every link, the node's Inject and Eject included, so a
// route crosses Hops-2 <= 3 router-to-router links. Paths through a third
// group (Valiant) are not minimal routing and are not taken even when
// shorter.
//
// Build one with Parse or NewDragonfly (a literal lacks the wiring), and
// do not change its fields: a Dragonfly is immutable, and its methods may
// be called concurrently.
type Dragonfly struct {
	Groups          int
	Routers         int // per group
	NodesPerRouter  int
	GlobalPerRouter int
	perPair         int
}

var _ Topology = (*Dragonfly)(nil)

// NewDragonfly returns the dragonfly with the given sizes; global <= 0
// picks the default (two links between every pair of groups).
func NewDragonfly(groups, routers, nodes, global int) (*Dragonfly, error) {
	spec := fmt.Sprintf("dragonfly:groups=%d,routers=%d,nodes=%d,global=%d", groups, routers, nodes, global)
	return newDragonfly(groups, routers, nodes, global, func(part, reason string) error {
		return &SpecError{Spec: spec, Part: part, Reason: reason}
	})
}

func parseDragonfly(arg string, bad func(part, reason string) error) (Topology, error) {
	vals := map[string]int{"groups": -1, "routers": -1, "nodes": -1, "global": -1}
	for _, kv := range strings.Split(arg, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, bad(kv, "want key=value")
		}
		old, known := vals[k]
		if !known {
			return nil, bad(k, "unknown key (want groups, routers, nodes, global)")
		}
		if old != -1 {
			return nil, bad(k, "given twice")
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > MaxNodes {
			return nil, bad(kv, "value is not a non-negative integer")
		}
		vals[k] = n
	}
	for _, k := range []string{"groups", "routers", "nodes"} {
		if vals[k] == -1 {
			return nil, bad(arg, "missing "+k+"=")
		}
		if vals[k] == 0 {
			return nil, bad(k+"=0", "must be positive")
		}
	}
	return newDragonfly(vals["groups"], vals["routers"], vals["nodes"], vals["global"], bad)
}

func newDragonfly(groups, routers, nodes, global int, bad func(part, reason string) error) (*Dragonfly, error) {
	for _, v := range []struct {
		k string
		n int
	}{{"groups", groups}, {"routers", routers}, {"nodes", nodes}} {
		if v.n < 1 {
			return nil, bad(v.k+"="+strconv.Itoa(v.n), "must be positive")
		}
	}
	if groups > MaxNodes/routers || groups*routers > MaxNodes/nodes {
		return nil, bad("groups="+strconv.Itoa(groups), fmt.Sprintf("more than %d nodes", MaxNodes))
	}
	other := groups - 1
	if global < 0 {
		global = 0
	}
	if global == 0 && other > 0 {
		global = (2*other + routers - 1) / routers
	}
	if global > MaxNodes/routers {
		return nil, bad("global="+strconv.Itoa(global), "too many global links")
	}
	d := &Dragonfly{Groups: groups, Routers: routers, NodesPerRouter: nodes, GlobalPerRouter: global}
	if other > 0 {
		d.perPair = routers * global / other
		if d.perPair == 0 {
			return nil, bad("global="+strconv.Itoa(global),
				fmt.Sprintf("%d routers x %d global links cannot reach the %d other groups", routers, global, other))
		}
	}
	return d, nil
}

// Name implements Topology.
func (d *Dragonfly) Name() string {
	return fmt.Sprintf("dragonfly:groups=%d,routers=%d,nodes=%d,global=%d",
		d.Groups, d.Routers, d.NodesPerRouter, d.GlobalPerRouter)
}

// Nodes implements Topology.
func (d *Dragonfly) Nodes() int { return d.Groups * d.Routers * d.NodesPerRouter }

// Shape implements Topology: (groups, routers, nodes per router).
func (d *Dragonfly) Shape() []int { return []int{d.Groups, d.Routers, d.NodesPerRouter} }

// Group implements Topology: the node's dragonfly group.
func (d *Dragonfly) Group(n int) int { return n / (d.Routers * d.NodesPerRouter) }

// LinksPerPair is the number of global links between every pair of groups.
func (d *Dragonfly) LinksPerPair() int { return d.perPair }

// Router returns the global index of node n's router.
func (d *Dragonfly) Router(n int) int { return n / d.NodesPerRouter }

// RouterVertex is the vertex id of router r in Links.
func (d *Dragonfly) RouterVertex(r int) int { return d.Nodes() + r }

// gateway returns the router (global index) in group g that holds global
// lane c towards group h.
func (d *Dragonfly) gateway(g, h, c int) int {
	idx := ((h-g-1)%d.Groups + d.Groups) % d.Groups
	return g*d.Routers + (c*(d.Groups-1)+idx)%d.Routers
}

// bestLane returns the lane between groups gs and gd that gives the fewest
// router hops from router s to router t, the lowest lane on a tie.
func (d *Dragonfly) bestLane(s, t, gs, gd int) (lane, hops int) {
	hops = 4
	for c := range d.perPair {
		h := 1
		if d.gateway(gs, gd, c) != s {
			h++
		}
		if d.gateway(gd, gs, c) != t {
			h++
		}
		if h < hops {
			lane, hops = c, h
		}
	}
	return lane, hops
}

// Hops implements Topology; it includes the Inject and Eject links.
func (d *Dragonfly) Hops(a, b int) int {
	if a == b {
		return 0
	}
	s, t := d.Router(a), d.Router(b)
	gs, gd := s/d.Routers, t/d.Routers
	switch {
	case s == t:
		return 2
	case gs == gd:
		return 3
	}
	_, h := d.bestLane(s, t, gs, gd)
	return 2 + h
}

// Route implements Topology: minimal local-global-local routing.
func (d *Dragonfly) Route(a, b int) []Link {
	if a == b {
		return nil
	}
	s, t := d.Router(a), d.Router(b)
	gs, gd := s/d.Routers, t/d.Routers
	v := d.Nodes()
	route := make([]Link, 0, 5)
	route = append(route, Link{Kind: Inject, From: a, To: v + s})
	if gs == gd {
		if s != t {
			route = append(route, Link{Kind: Local, From: v + s, To: v + t})
		}
	} else {
		c, _ := d.bestLane(s, t, gs, gd)
		x, y := d.gateway(gs, gd, c), d.gateway(gd, gs, c)
		if x != s {
			route = append(route, Link{Kind: Local, From: v + s, To: v + x})
		}
		route = append(route, Link{Kind: Global, From: v + x, To: v + y, Lane: c})
		if y != t {
			route = append(route, Link{Kind: Local, From: v + y, To: v + t})
		}
	}
	return append(route, Link{Kind: Eject, From: v + t, To: b})
}

// Links returns every directed link of the network: each node's Inject
// and Eject, all Local links, and every Global link in both directions.
func (d *Dragonfly) Links() []Link {
	v := d.Nodes()
	var out []Link
	for n := range v {
		r := v + d.Router(n)
		out = append(out, Link{Kind: Inject, From: n, To: r}, Link{Kind: Eject, From: r, To: n})
	}
	for g := range d.Groups {
		for i := range d.Routers {
			for j := range d.Routers {
				if i != j {
					out = append(out, Link{Kind: Local, From: v + g*d.Routers + i, To: v + g*d.Routers + j})
				}
			}
		}
		for h := range d.Groups {
			if h == g {
				continue
			}
			for c := range d.perPair {
				out = append(out, Link{Kind: Global, From: v + d.gateway(g, h, c), To: v + d.gateway(h, g, c), Lane: c})
			}
		}
	}
	return out
}
