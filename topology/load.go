package topology

import "fmt"

// Flow is one message of a step, from rank Src to rank Dst.
type Flow struct {
	Src int `json:"src"`
	Dst int `json:"dst"`
}

// Load sums up how a set of concurrent flows uses the network.
type Load struct {
	// MaxLinkLoad is the largest number of flows that share one directed
	// link under the topology's routing (0 when no flow leaves its node).
	MaxLinkLoad int `json:"max_link_load"`
	// Busiest is a link that carries MaxLinkLoad flows: the first to reach
	// that load, taking flows in order and links along each route.
	Busiest Link `json:"busiest"`
	// MaxHops is the longest route of any flow, in links.
	MaxHops int `json:"max_hops"`
	// TotalHops is the sum of all routes' lengths.
	TotalHops int `json:"total_hops"`
	// LinksUsed is the number of distinct directed links used.
	LinksUsed int `json:"links_used"`
	// GlobalCrossings is the number of Global links crossed, summed over
	// the flows (dragonfly only).
	GlobalCrossings int `json:"global_crossings"`
}

// LinkLoad routes every flow between the nodes of its ranks in placement p
// and reports the load. Flows between ranks on one node use no link.
func LinkLoad(t Topology, p Placement, flows []Flow) (Load, error) {
	n := len(p.Nodes)
	count := make(map[Link]int)
	var l Load
	for _, f := range flows {
		if f.Src < 0 || f.Src >= n || f.Dst < 0 || f.Dst >= n {
			return Load{}, fmt.Errorf("topology: link load: flow %d->%d outside ranks [0, %d)", f.Src, f.Dst, n)
		}
		route := t.Route(p.Nodes[f.Src], p.Nodes[f.Dst])
		l.MaxHops = max(l.MaxHops, len(route))
		l.TotalHops += len(route)
		for _, k := range route {
			count[k]++
			if c := count[k]; c > l.MaxLinkLoad {
				l.MaxLinkLoad, l.Busiest = c, k
			}
			if k.Kind == Global {
				l.GlobalCrossings++
			}
		}
	}
	l.LinksUsed = len(count)
	return l, nil
}
