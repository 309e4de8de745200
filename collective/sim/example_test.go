package sim_test

import (
	"context"
	"fmt"

	"github.com/kizuna-hpc/kizuna/collective/schedule"
	"github.com/kizuna-hpc/kizuna/collective/sim"
	"github.com/kizuna-hpc/kizuna/collective/topo"
	"github.com/kizuna-hpc/kizuna/topology"
)

// Price a ring and a dimension-wise all-reduce of 64 MiB on an 8x8 torus
// of 10 GB/s links.
func Example() {
	t, _ := topology.Parse("torus:8x8")
	p, _ := topology.Place(t, "linear", t.Nodes())
	l, _ := topo.LayoutFor(t, p)
	pr, err := sim.NewPricer(sim.Machine{Topo: t, Place: p, Layout: l,
		Net: sim.Net{LinkBW: 10e9, HopLatency: 100e-9, Alpha: 1e-6}})
	if err != nil {
		panic(err)
	}
	for _, a := range []schedule.Algo{schedule.Ring, schedule.Torus} {
		e, err := pr.Price(context.Background(), sim.Query{Coll: schedule.AllReduce, Algo: a, Count: 16 << 20})
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s: %.2f ms, %d steps, %d patterns, %s\n", a, e.Seconds*1e3, e.Steps, e.Patterns, e.Mode)
	}
	// Output:
	// ring: 13.35 ms, 126 steps, 1 patterns, symmetric
	// torus: 13.24 ms, 28 steps, 2 patterns, symmetric
}
