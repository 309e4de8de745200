package topo

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/kizuna-hpc/kizuna/collective/schedule"
	"github.com/kizuna-hpc/kizuna/topology"
)

// TestPlanFor: the plan of a layout holds its rings and trees and, per
// pairwise algorithm, partner lists in which every rank's partner at a step
// is the one its schedule sends to, partners of a full step pair up, and
// the plan survives a JSON round trip with the same digest.
func TestPlanFor(t *testing.T) {
	tests := []struct {
		spec, place string
		np          int
		exchanges   []string
	}{
		{"torus:8x8", "random:1", 0, []string{"swing", "hd", "rd"}},
		{"torus:3x5", "linear", 0, []string{"swing", "hd", "rd"}},
		{"tofu:1x1x1", "linear", 0, []string{"swing", "hd", "rd"}},
		{"dragonfly:groups=4,routers=2,nodes=2", "random:3", 0, []string{"swing", "hd", "rd"}},
		{"mesh:2x3", "linear:2", 0, []string{"swing", "hd", "rd"}},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			topo, err := topology.Parse(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			n := tt.np
			if n == 0 {
				n = topo.Nodes()
				if k, ok := perNode(tt.place); ok {
					n *= k
				}
			}
			p, err := topology.PlaceBy(topo, tt.place, n, nil)
			if err != nil {
				t.Fatal(err)
			}
			l, err := LayoutFor(topo, p)
			if err != nil {
				t.Fatal(err)
			}
			plan, err := PlanFor(topo, p, l)
			if err != nil {
				t.Fatalf("PlanFor(%s, %s) = %v", tt.spec, tt.place, err)
			}
			if plan.Topology != topo.Name() || !slices.Equal(plan.Placement, p.Nodes) {
				t.Errorf("PlanFor: topology %q placement %v; want %q %v", plan.Topology, plan.Placement, topo.Name(), p.Nodes)
			}
			if len(plan.Rings) != max(1, len(l.Rings)) || !slices.Equal(plan.Rings[0].Ranks, firstRing(l)) {
				t.Errorf("PlanFor: %d rings, first %v; want %d, first %v", len(plan.Rings), plan.Rings[0].Ranks, max(1, len(l.Rings)), firstRing(l))
			}
			if len(plan.Trees) != 2 || !slices.Equal(plan.Trees[0].Parent, l.Trees[0]) || !slices.Equal(plan.Trees[1].Parent, l.Trees[1]) {
				t.Errorf("PlanFor: trees %v; want parents %v", plan.Trees, l.Trees)
			}
			var names []string
			for _, e := range plan.Exchanges {
				names = append(names, e.Name)
				a, err := schedule.ParseAlgo(e.Name)
				if err != nil {
					t.Fatal(err)
				}
				for r := range n {
					s, err := schedule.Build(schedule.Params{Coll: schedule.AllReduce, Algo: a, Rank: r, Size: n, Count: 64 * n, Layout: l})
					if err != nil {
						t.Fatal(err)
					}
					if len(s.Steps) > len(e.Partners) {
						t.Fatalf("exchange %s: %d steps; rank %d's schedule has %d", e.Name, len(e.Partners), r, len(s.Steps))
					}
					for i, st := range s.Steps {
						want := -1
						if len(st.Sends) > 0 {
							want = st.Sends[0].Peer
						}
						if got := e.Partners[i][r]; got != want {
							t.Errorf("exchange %s step %d rank %d: partner %d; want %d", e.Name, i, r, got, want)
						}
					}
				}
				// At a power-of-two size every step is one round in which
				// ranks exchange in pairs. (Otherwise ranks fold in and out
				// and their step s need not be the same round.)
				if n&(n-1) == 0 {
					pairs := 0
					for i, ps := range e.Partners {
						for r, q := range ps {
							if q == -1 || ps[q] == -1 {
								continue
							}
							pairs++
							if ps[q] != r || q == r {
								t.Errorf("exchange %s step %d: rank %d sends to %d, which sends to %d; want pairs", e.Name, i, r, q, ps[q])
							}
						}
					}
					if pairs != n*len(e.Partners) {
						t.Errorf("exchange %s: %d ranks with a partner in %d steps; want %d", e.Name, pairs, len(e.Partners), n*len(e.Partners))
					}
				}
			}
			if !slices.Equal(names, tt.exchanges) {
				t.Errorf("PlanFor: exchanges %v; want %v", names, tt.exchanges)
			}
			b, err := json.Marshal(plan)
			if err != nil {
				t.Fatal(err)
			}
			var back topology.Plan
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, plan) || back.Digest() != plan.Digest() {
				t.Errorf("plan after a JSON round trip differs (digest %s; want %s)", back.Digest(), plan.Digest())
			}
		})
	}
}

// perNode returns K of a "linear:K" placement.
func perNode(place string) (int, bool) {
	var k int
	if _, err := fmt.Sscanf(place, "linear:%d", &k); err == nil {
		return k, true
	}
	return 0, false
}

func firstRing(l *schedule.Layout) []int {
	if len(l.Rings) > 0 {
		return l.Rings[0]
	}
	return l.Ring
}
