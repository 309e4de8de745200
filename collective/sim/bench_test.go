package sim

import (
	"context"
	"testing"

	"github.com/kizuna-hpc/kizuna/collective/schedule"
	"github.com/kizuna-hpc/kizuna/collective/topo"
	"github.com/kizuna-hpc/kizuna/topology"
)

// BenchmarkSweep prices a whole-machine all-reduce sweep, 8 B to 1 GiB by
// factors of 2 (28 sizes), as `kizuna sim -preset P -algo A` does: one op
// is one sweep, layout and pattern routing included. The goals: Fugaku
// under a minute, Aurora under 30 s on a 2-core machine.
//
//	go test -run '^$' -bench Sweep -benchtime 1x ./collective/sim
func BenchmarkSweep(b *testing.B) {
	for _, c := range []struct {
		preset string
		algo   schedule.Algo
	}{
		{"aurora", schedule.Ring}, {"aurora", schedule.Hierarchical},
		{"fugaku", schedule.Torus}, {"fugaku", schedule.Ring},
	} {
		b.Run(c.preset+"/"+c.algo.String(), func(b *testing.B) {
			for b.Loop() {
				t, err := topology.Parse(c.preset)
				if err != nil {
					b.Fatal(err)
				}
				p, err := topology.Place(t, "linear", t.Nodes())
				if err != nil {
					b.Fatal(err)
				}
				l, err := topo.LayoutFor(t, p)
				if err != nil {
					b.Fatal(err)
				}
				pr, err := NewPricer(Machine{Topo: t, Place: p, Layout: l, Net: Net{LinkBW: 6.8e9, HopLatency: 1e-7, Alpha: 5e-7, Gamma: 1 / 9e9}})
				if err != nil {
					b.Fatal(err)
				}
				for bytes := int64(8); bytes <= 1<<30; bytes *= 2 {
					if _, err := pr.Price(context.Background(), Query{Coll: schedule.AllReduce, Algo: c.algo, Count: int(bytes / 4), ChunkElems: 1 << 17}); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
