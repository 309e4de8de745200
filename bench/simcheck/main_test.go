package main

import (
	"context"
	"math"
	"testing"

	"github.com/kizuna-hpc/kizuna/collective"
	"github.com/kizuna-hpc/kizuna/collective/schedule"
	"github.com/kizuna-hpc/kizuna/collective/sim"
	"github.com/kizuna-hpc/kizuna/collective/topo"
	"github.com/kizuna-hpc/kizuna/topology"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestFitRingRecovers fits ring times the model itself produced with known
// parameters and must get alpha and beta back (gamma is given).
func TestFitRingRecovers(t *testing.T) {
	tests := []struct {
		spec string
		want [3]float64
	}{
		{"torus:4x4", [3]float64{150e-6, 1 / 20e6, 2e-9}},
		{"dragonfly:groups=4,routers=2,nodes=2", [3]float64{40e-6, 1 / 80e6, 0}},
	}
	ctx := context.Background()
	for _, tt := range tests {
		tp, err := topology.Parse(tt.spec)
		if err != nil {
			t.Fatal(err)
		}
		pl, err := topology.Place(tp, "linear", tp.Nodes())
		if err != nil {
			t.Fatal(err)
		}
		l, err := topo.LayoutFor(tp, pl)
		if err != nil {
			t.Fatal(err)
		}
		m := sim.Machine{Topo: tp, Place: pl, Layout: l}
		const lat = 30e-6
		m.Net = sim.Net{Alpha: tt.want[0], LinkBW: 1 / tt.want[1], Gamma: tt.want[2], HopLatency: lat}
		pr, err := sim.NewPricer(m)
		if err != nil {
			t.Fatal(err)
		}
		sizes := []int64{32 << 10, 128 << 10, 2 << 20, 8 << 20}
		var meas []float64
		for _, b := range sizes {
			e, err := pr.Price(ctx, sim.Query{Coll: schedule.AllReduce, Algo: schedule.Ring, Count: int(b / 4), ChunkElems: collective.DefaultChunkBytes / 4})
			if err != nil {
				t.Fatal(err)
			}
			meas = append(meas, e.Seconds)
		}
		got, err := fitRing(ctx, m, lat, tt.want[2], sizes, meas)
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if math.Abs(got[i]-tt.want[i]) > 1e-6*math.Max(tt.want[i], 1e-9) {
				t.Errorf("fitRing(%s) = %v; want %v", tt.spec, got, tt.want)
				break
			}
		}
	}
}
