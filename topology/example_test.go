package topology_test

import (
	"fmt"

	"github.com/kizuna-hpc/kizuna/topology"
)

func Example() {
	topo, err := topology.Parse("torus:8x8")
	if err != nil {
		fmt.Println(err)
		return
	}
	p, _ := topology.Place(topo, "random:1", 64)
	ring, _ := topology.EmbedRing(topo, p)
	load, _ := topology.LinkLoad(topo, p, ring.Flows())
	fmt.Println(topo.Name(), topo.Nodes(), "max hops", load.MaxHops, "max link load", load.MaxLinkLoad)
	plan := topology.Plan{Topology: topo.Name(), Placement: p.Nodes, Rings: []topology.Ring{ring}}
	fmt.Println(len(plan.Digest()))
	// Output:
	// torus:8x8 64 max hops 1 max link load 1
	// 64
}

func ExampleParse() {
	for _, spec := range []string{"fugaku", "aurora", "mesh:4xq"} {
		topo, err := topology.Parse(spec)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(topo.Name(), topo.Nodes(), topo.Shape())
	}
	// Output:
	// tofu:24x23x24 158976 [24 23 24 2 3 2]
	// dragonfly:groups=166,routers=32,nodes=2,global=11 10624 [166 32 2]
	// topology: spec "mesh:4xq": "q": dimension is not a positive integer
}
