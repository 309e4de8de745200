package topo

import (
	"fmt"
	"slices"

	"github.com/kizuna-hpc/kizuna/collective/schedule"
	"github.com/kizuna-hpc/kizuna/topology"
)

// PlanFor returns the topology plan of the ranks of p on t, as plain data
// to print, save, load back and compare (topology.Plan.Digest):
//
//   - Rings: l's edge-disjoint rings (l.Ring alone when it has none);
//   - Trees: topology.DoubleTree's two trees (whose parents are l.Trees);
//   - Exchanges: for each pairwise all-reduce algorithm of exchanges that
//     l allows (Swing, recursive halving-doubling, recursive doubling), the
//     per-step partner lists of the schedules every rank runs: Partners[s][r]
//     is the rank r sends to in step s of its schedule, -1 when it sends
//     nothing then. At a power-of-two size step s is the same round on
//     every rank and ranks exchange in pairs; at other sizes some ranks
//     fold in and out, so their step s need not be the others' round s.
//
// l is the layout LayoutFor(t, p) returns. PlanFor builds every rank's
// schedules, so its cost grows as the square of the ranks, like Analyze.
func PlanFor(t topology.Topology, p topology.Placement, l *schedule.Layout) (topology.Plan, error) {
	n := p.Ranks()
	if n > MaxRanks {
		return topology.Plan{}, fmt.Errorf("%w: plan of %d ranks (at most %d)", ErrTooLarge, n, MaxRanks)
	}
	plan := topology.Plan{Topology: t.Name(), Placement: slices.Clone(p.Nodes)}
	rings := l.Rings
	if len(rings) == 0 && l.Ring != nil {
		rings = [][]int{l.Ring}
	}
	for _, r := range rings {
		plan.Rings = append(plan.Rings, topology.Ring{Ranks: slices.Clone(r)})
	}
	trees, err := topology.DoubleTree(t, p)
	if err != nil {
		return topology.Plan{}, fmt.Errorf("topo: plan: %w", err)
	}
	plan.Trees = trees[:]
	avail := schedule.AvailableOn(schedule.AllReduce, l)
	for _, a := range []schedule.Algo{schedule.Swing, schedule.HalvingDoubling, schedule.RecursiveDoubling} {
		if !slices.Contains(avail, a) {
			continue
		}
		e, err := exchange(n, l, a)
		if err != nil {
			return topology.Plan{}, err
		}
		plan.Exchanges = append(plan.Exchanges, e)
	}
	if err := plan.Validate(); err != nil {
		return topology.Plan{}, fmt.Errorf("topo: plan on %s: %w", t.Name(), err)
	}
	return plan, nil
}

// exchange returns the per-step partners of algorithm a's all-reduce: the
// peer of each rank's sends in each step, which a pairwise algorithm keeps
// to one per step.
func exchange(n int, l *schedule.Layout, a schedule.Algo) (topology.Exchange, error) {
	steps, err := stepFlows(n, l, schedule.AllReduce, a)
	if err != nil {
		return topology.Exchange{}, err
	}
	e := topology.Exchange{Name: a.String(), Partners: make([][]int, len(steps))}
	for s, flows := range steps {
		ps := make([]int, n)
		for i := range ps {
			ps[i] = -1
		}
		for _, f := range flows {
			if ps[f.Src] != -1 && ps[f.Src] != f.Dst {
				return topology.Exchange{}, fmt.Errorf("topo: plan: %v step %d: rank %d sends to both %d and %d, not a pairwise exchange", a, s, f.Src, ps[f.Src], f.Dst)
			}
			ps[f.Src] = f.Dst
		}
		e.Partners[s] = ps
	}
	return e, nil
}
