package collective

import (
	"testing"

	"github.com/kizuna-hpc/kizuna/collective/schedule"
	"github.com/kizuna-hpc/kizuna/collective/topo"
	"github.com/kizuna-hpc/kizuna/topology"
)

// BenchmarkChooserAtLimit is the figure behind maxChooserRanks: the first
// automatic all-reduce choice on torus:16x16 (256 ranks, placement random:1),
// which analyses every all-reduce algorithm's steps on the topology. Each
// iteration builds a fresh topo.Chooser and makes that first choice.
//
//	go test -run '^$' -bench ChooserAtLimit -benchtime 1x ./collective/
func BenchmarkChooserAtLimit(b *testing.B) {
	t, err := topology.Parse("torus:16x16")
	if err != nil {
		b.Fatal(err)
	}
	p, err := topology.PlaceBy(t, "random:1", maxChooserRanks, nil)
	if err != nil {
		b.Fatal(err)
	}
	l, err := topo.LayoutFor(t, p)
	if err != nil {
		b.Fatal(err)
	}
	k := schedule.Costs{Alpha: 25e-6, Beta: 0.3e-9, Gamma: 0.1e-9}
	for b.Loop() {
		ch, err := topo.NewChooser(t, p, l, topo.NetFor(t).Hop)
		if err != nil {
			b.Fatal(err)
		}
		if a := ch.Choose(schedule.AllReduce, 64<<20, k, nil); a == schedule.AlgoAuto {
			b.Fatal("Choose(AllReduce, 64 MiB) = auto; want an algorithm")
		}
	}
}
