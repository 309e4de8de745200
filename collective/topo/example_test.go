package topo_test

import (
	"fmt"

	"github.com/kizuna-hpc/kizuna/collective/schedule"
	"github.com/kizuna-hpc/kizuna/collective/topo"
	"github.com/kizuna-hpc/kizuna/topology"
)

func ExampleAnalyze() {
	t, _ := topology.Parse("torus:4x4")
	p, _ := topology.Place(t, "random:1", t.Nodes())
	l, _ := topo.LayoutFor(t, p)
	for _, lay := range []*schedule.Layout{l, nil} {
		r, err := topo.Analyze(t, p, lay, schedule.AllReduce, schedule.Ring, []int64{1 << 20}, topo.NetFor(t))
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("embedded=%v max_hops=%d max_link_load=%d\n", lay != nil, r.MaxHops, r.MaxLinkLoad)
	}
	// Output:
	// embedded=true max_hops=1 max_link_load=1
	// embedded=false max_hops=4 max_link_load=2
}
