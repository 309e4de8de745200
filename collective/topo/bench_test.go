package topo

import (
	"testing"

	"github.com/kizuna-hpc/kizuna/collective/schedule"
	"github.com/kizuna-hpc/kizuna/topology"
)

// BenchmarkRingTorus8x8Random is the data point: on torus:8x8 with
// the random:1 placement, the ring all-reduce in rank order ("naive", no
// layout) against the ring along the embedded Hamiltonian cycle. Each
// iteration builds the 64 ranks' schedules and routes every step; the
// custom metrics are the outcome: max-link-load (most messages of one step
// on one directed link), max-hops, and the cost model's predicted
// all-reduce time of 1 MiB and 64 MiB on Tofu-D links (pred-1MiB-us,
// pred-64MiB-ms).
//
//	go test -run '^$' -bench RingTorus8x8 -benchtime 3x ./collective/topo
func BenchmarkRingTorus8x8Random(b *testing.B) {
	t, err := topology.Parse("torus:8x8")
	if err != nil {
		b.Fatal(err)
	}
	p, err := topology.Place(t, "random:1", 64)
	if err != nil {
		b.Fatal(err)
	}
	l, err := LayoutFor(t, p)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name   string
		layout *schedule.Layout
		algo   schedule.Algo
	}{
		{"naive", nil, schedule.Ring},
		{"embedded", l, schedule.Ring},
		{"multiring", l, schedule.MultiRing},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var rep Report
			for b.Loop() {
				rep, err = Analyze(t, p, bc.layout, schedule.AllReduce, bc.algo, []int64{1 << 20, 64 << 20}, NetFor(t))
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(rep.MaxLinkLoad), "max-link-load")
			b.ReportMetric(float64(rep.MaxHops), "max-hops")
			b.ReportMetric(rep.Predicted[0].Seconds*1e6, "pred-1MiB-us")
			b.ReportMetric(rep.Predicted[1].Seconds*1e3, "pred-64MiB-ms")
		})
	}
}
