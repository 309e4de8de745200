package topo

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/kizuna-hpc/kizuna/collective/schedule"
	"github.com/kizuna-hpc/kizuna/topology"
)

// MaxRanks is the most ranks Analyze accepts. A ring all-reduce on p ranks
// has 2(p-1) steps of p messages each, every one routed hop by hop, so the
// work grows as p²: 1024 ranks take about a second, 4096 about ten (ring),
// 158,976 (all of Fugaku) would not finish.
const MaxRanks = 4096

// ErrTooLarge is returned by Analyze for more than MaxRanks ranks.
var ErrTooLarge = errors.New("topo: too many ranks to analyse")

// LayoutFor derives a schedule.Layout for the ranks of placement p on t:
//
//   - Ring is EmbedRing's order (the regular node cycle: a modular Gray
//     code on a torus) and Rings are EmbedRings' edge-disjoint rings (at
//     most schedule.MaxRings), which need not include Ring.
//   - Dims and Grid, on a torus, mesh or Tofu-D (any topology.GridNet):
//     when p puts exactly k ranks on every node of t (k = 1: one rank per
//     node), Dims is the network shape in topology's coordinate order,
//     preceded by k when k > 1, and Grid puts each rank at its node's
//     coordinates (ranks of one node along the leading dimension k, in rank
//     order). When p leaves a node empty or loads nodes unevenly there is no
//     rank grid: Dims and Grid stay nil, so Torus is unavailable and Swing
//     pairs ring positions.
//   - Trees are topology.DoubleTree's two trees (each group's ranks a
//     connected subtree), as parent arrays, for the Tree all-reduce.
//   - Groups, on a dragonfly: the ranks of each dragonfly group
//     (topology.Group of their node), groups in increasing group number,
//     ranks within a group in Ring order; empty groups are left out.
//
// It fails when p does not fit t.
func LayoutFor(t topology.Topology, p topology.Placement) (*schedule.Layout, error) {
	if p.Ranks() == 0 {
		return nil, fmt.Errorf("topo: layout on %s: no ranks", t.Name())
	}
	rings, err := topology.EmbedRings(t, p, schedule.MaxRings)
	if err != nil {
		return nil, fmt.Errorf("topo: layout on %s: %w", t.Name(), err)
	}
	ring, err := topology.EmbedRing(t, p)
	if err != nil {
		return nil, fmt.Errorf("topo: layout on %s: %w", t.Name(), err)
	}
	l := &schedule.Layout{Ring: ring.Ranks}
	for _, r := range rings {
		l.Rings = append(l.Rings, r.Ranks)
	}
	trees, err := topology.DoubleTree(t, p)
	if err != nil {
		return nil, fmt.Errorf("topo: layout on %s: %w", t.Name(), err)
	}
	l.Trees = [][]int{trees[0].Parent, trees[1].Parent}
	switch tt := t.(type) {
	case *topology.GridNet:
		l.Dims, l.Grid = rankGrid(tt, p)
	case *topology.Dragonfly:
		l.Groups = groupsOf(t, p, l.Ring)
	}
	return l, nil
}

// rankGrid returns the rank grid of p on g, or nils when p does not put the
// same number of ranks on every node.
func rankGrid(g *topology.GridNet, p topology.Placement) (dims, grid []int) {
	n := g.Nodes()
	if n == 0 || p.Ranks()%n != 0 {
		return nil, nil
	}
	k := p.Ranks() / n
	perNode := make([][]int, n)
	for r, node := range p.Nodes {
		perNode[node] = append(perNode[node], r)
	}
	for _, rs := range perNode {
		if len(rs) != k {
			return nil, nil
		}
	}
	shape := g.Shape()
	if k > 1 {
		dims = append([]int{k}, shape...)
	} else {
		dims = shape
	}
	grid = make([]int, p.Ranks())
	for node, rs := range perNode {
		c := topology.Coord(g, node)
		for j, r := range rs {
			coords := c
			if k > 1 {
				coords = append([]int{j}, c...)
			}
			// Layout.Grid: dimension 0 varies fastest.
			idx := 0
			for i := len(dims) - 1; i >= 0; i-- {
				idx = idx*dims[i] + coords[i]
			}
			grid[idx] = r
		}
	}
	return dims, grid
}

// groupsOf partitions the ranks by their node's topology group, each group
// in ring order.
func groupsOf(t topology.Topology, p topology.Placement, ring []int) [][]int {
	byGroup := make(map[int][]int)
	for _, r := range ring {
		g := t.Group(p.Nodes[r])
		byGroup[g] = append(byGroup[g], r)
	}
	keys := make([]int, 0, len(byGroup))
	for g := range byGroup {
		keys = append(keys, g)
	}
	slices.Sort(keys)
	out := make([][]int, 0, len(keys))
	for _, g := range keys {
		out = append(out, byGroup[g])
	}
	return out
}

// Net is the link model of a network for the cost model: the Hockney
// parameters of one message plus the time per hop.
type Net struct {
	Name string // what the numbers describe, e.g. "Tofu-D"
	schedule.Costs
	Hop float64 // seconds per hop (t_hop in StepCost)
}

// NetFor returns link parameters for t's kind, from ../shared/REFERENCE.md
// where it gives them and stated assumptions where it does not:
//
//	Tofu-D (tofu, fugaku), torus, mesh: 6.8 GB/s per link, 0.49 us put
//	    latency (Ajima et al., IEEE Cluster 2018)
//	dragonfly, aurora (Slingshot 11): 25 GB/s links; latency 2 us assumed
//	flat: 10 GB/s, 5 us assumed (a generic switched cluster)
//
// Every kind assumes 100 ns per hop and reduction at 9 GB/s (scalar Go
// float32 add measured in REFERENCE.md).
func NetFor(t topology.Topology) Net {
	const hop, gamma = 100e-9, 1 / 9e9
	switch tt := t.(type) {
	case *topology.GridNet:
		name := "torus/mesh (Tofu-D link)"
		if len(tt.Shape()) == 6 && tt.Wraps() && slices.Equal(tt.Shape()[3:], []int{2, 3, 2}) {
			name = "Tofu-D"
		}
		return Net{Name: name, Costs: schedule.Costs{Alpha: 0.49e-6, Beta: 1 / 6.8e9, Gamma: gamma}, Hop: hop}
	case *topology.Dragonfly:
		return Net{Name: "Slingshot", Costs: schedule.Costs{Alpha: 2e-6, Beta: 1 / 25e9, Gamma: gamma}, Hop: hop}
	}
	return Net{Name: "flat", Costs: schedule.Costs{Alpha: 5e-6, Beta: 1 / 10e9, Gamma: gamma}, Hop: hop}
}

// Prediction is a predicted time for one message size.
type Prediction struct {
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
}

// Report is what Analyze finds for one algorithm.
type Report struct {
	Algo  string `json:"algo"`
	Ranks int    `json:"ranks"`
	// Steps is the most steps of any rank's schedule.
	Steps int `json:"steps"`
	// Messages is the number of sends over all ranks and steps.
	Messages int `json:"messages"`
	// MaxHops is the longest route of any message, in links.
	MaxHops int `json:"max_hops"`
	// MeanHops is the mean route length over all messages (0 when none).
	MeanHops float64 `json:"mean_hops"`
	// MaxLinkLoad is the most messages of one step that share a directed
	// link.
	MaxLinkLoad int `json:"max_link_load"`
	// GlobalLinkCrossings is the number of dragonfly Global links crossed,
	// summed over all messages (0 off a dragonfly).
	GlobalLinkCrossings int `json:"global_link_crossings"`
	// StepHops and StepLoad are, per step, the longest route and the
	// busiest link's load (the StepCost fed to EstimateOn).
	StepHops []float64 `json:"-"`
	StepLoad []float64 `json:"-"`
	// Predicted is EstimateOn's time at each requested size.
	Predicted []Prediction `json:"predicted"`
}

// Analyze builds the schedule of collective c with algorithm a for every
// rank of p on layout l (nil: no topology, so Ring runs in rank order),
// takes step i of every rank's schedule as concurrent, turns each step's
// sends into flows (rank -> peer) and prices them with topology.LinkLoad.
//
// The predicted time at each size of sizes (bytes) is
// schedule.EstimateOn(c, a, bytes, ranks, net.Costs, StepCost{l, net.Hop,
// hops, load}). When the schedule has as many steps as schedule.Rounds has
// rounds, hops and load are the per-step values; otherwise (pipelined
// trees, folding ranks) a single number each, the worst step's, which
// overestimates. Schedules are built with 64 elements per rank and no
// chunking, so every block is non-empty and the message pattern is the one
// of a large buffer.
//
// It fails for more than MaxRanks ranks (ErrTooLarge), a placement that
// does not fit t, or Params that schedule.Build refuses.
func Analyze(t topology.Topology, p topology.Placement, l *schedule.Layout, c schedule.Coll, a schedule.Algo, sizes []int64, net Net) (Report, error) {
	n := p.Ranks()
	switch {
	case n < 1:
		return Report{}, fmt.Errorf("topo: analyse %v/%v: no ranks", c, a)
	case n > MaxRanks:
		return Report{}, fmt.Errorf("%w: %d ranks, at most %d", ErrTooLarge, n, MaxRanks)
	}
	if err := p.Validate(t); err != nil {
		return Report{}, err
	}
	steps, err := stepFlows(n, l, c, a)
	if err != nil {
		return Report{}, err
	}
	rep := Report{Algo: a.String(), Ranks: n, Steps: len(steps)}
	total := 0
	var ld topology.Load
	for i, flows := range steps {
		// A ring's steps repeat one pattern: route it once.
		if i == 0 || !slices.Equal(flows, steps[i-1]) {
			var err error
			if ld, err = topology.LinkLoad(t, p, flows); err != nil {
				return Report{}, fmt.Errorf("topo: analyse %v/%v step %d: %w", c, a, i, err)
			}
		}
		rep.Messages += len(flows)
		total += ld.TotalHops
		rep.MaxHops = max(rep.MaxHops, ld.MaxHops)
		rep.MaxLinkLoad = max(rep.MaxLinkLoad, ld.MaxLinkLoad)
		rep.GlobalLinkCrossings += ld.GlobalCrossings
		rep.StepHops = append(rep.StepHops, float64(ld.MaxHops))
		rep.StepLoad = append(rep.StepLoad, float64(ld.MaxLinkLoad))
	}
	if rep.Messages > 0 {
		rep.MeanHops = float64(total) / float64(rep.Messages)
	}
	for _, b := range sizes {
		sc := rep.stepCost(c, a, b, l, net.Hop)
		sec := schedule.EstimateOn(c, a, b, n, net.Costs, sc)
		if math.IsInf(sec, 0) {
			return Report{}, fmt.Errorf("topo: analyse %v/%v: no cost model on this layout", c, a)
		}
		rep.Predicted = append(rep.Predicted, Prediction{Bytes: b, Seconds: sec})
	}
	return rep, nil
}

// stepFlows builds every rank's schedule of c with algorithm a on layout l
// and returns the sends of step i of every rank as flows.
func stepFlows(n int, l *schedule.Layout, c schedule.Coll, a schedule.Algo) ([][]topology.Flow, error) {
	var steps [][]topology.Flow
	for r := range n {
		s, err := schedule.Build(schedule.Params{Coll: c, Algo: a, Rank: r, Size: n, Count: 64 * n, Layout: l})
		if err != nil {
			return nil, fmt.Errorf("topo: analyse %v/%v rank %d: %w", c, a, r, err)
		}
		for i, st := range s.Steps {
			if i == len(steps) {
				steps = append(steps, nil)
			}
			for _, x := range st.Sends {
				steps[i] = append(steps[i], topology.Flow{Src: r, Dst: x.Peer})
			}
		}
	}
	return steps, nil
}

// stepCost is the StepCost EstimateOn prices c/a at bytes with: the
// per-step hops and loads when the schedule has one step per round of
// schedule.Rounds, else the worst step's for every round.
func (rep *Report) stepCost(c schedule.Coll, a schedule.Algo, bytes int64, l *schedule.Layout, hop float64) schedule.StepCost {
	sc := schedule.StepCost{Layout: l, Hop: hop, Hops: rep.StepHops, Load: rep.StepLoad}
	if c != schedule.AllReduce || len(schedule.Rounds(a, bytes, rep.Ranks, l)) != len(rep.StepHops) {
		sc.Hops = []float64{float64(rep.MaxHops)}
		sc.Load = []float64{float64(max(1, rep.MaxLinkLoad))}
	}
	return sc
}

// Chooser is the automatic algorithm choice on a topology: it prices each
// algorithm with schedule.EstimateOn fed the hops and link loads of that
// algorithm's own steps under the network's real routing (Analyze), so that
// the choice depends on the topology and the placement. The analysis of a
// (collective, algorithm) pair is done on first use and kept.
//
// A Chooser may be used from several goroutines; it retains t, p and l,
// which must not change.
type Chooser struct {
	t   topology.Topology
	p   topology.Placement
	l   *schedule.Layout
	hop float64

	mu    sync.Mutex
	cache map[chooserKey]*Report // nil Report: the pair has no schedule
}

type chooserKey struct {
	c schedule.Coll
	a schedule.Algo
}

// NewChooser returns a Chooser for the ranks of p on t with layout l (as
// LayoutFor gives), hop seconds per hop. It fails for more than MaxRanks
// ranks, whose analysis would take too long.
func NewChooser(t topology.Topology, p topology.Placement, l *schedule.Layout, hop float64) (*Chooser, error) {
	if p.Ranks() > MaxRanks {
		return nil, fmt.Errorf("%w: %d ranks, at most %d", ErrTooLarge, p.Ranks(), MaxRanks)
	}
	if err := p.Validate(t); err != nil {
		return nil, err
	}
	return &Chooser{t: t, p: p, l: l, hop: hop, cache: make(map[chooserKey]*Report)}, nil
}

// report returns the analysis of c/a, computing it on first use.
func (ch *Chooser) report(c schedule.Coll, a schedule.Algo) *Report {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	k := chooserKey{c, a}
	if rep, ok := ch.cache[k]; ok {
		return rep
	}
	var rep *Report
	if r, err := Analyze(ch.t, ch.p, ch.l, c, a, nil, Net{}); err == nil {
		rep = &r
	}
	ch.cache[k] = rep
	return rep
}

// StepCost returns the StepCost of c/a at bytes: ok is false when a has no
// schedule for c on the layout.
func (ch *Chooser) StepCost(c schedule.Coll, a schedule.Algo, bytes int64) (sc schedule.StepCost, ok bool) {
	rep := ch.report(c, a)
	if rep == nil {
		return schedule.StepCost{}, false
	}
	return rep.stepCost(c, a, bytes, ch.l, ch.hop), true
}

// Estimate is schedule.EstimateOn of c/a at bytes with k under the real
// routing's hops and loads (+Inf when a has no schedule for c).
func (ch *Chooser) Estimate(c schedule.Coll, a schedule.Algo, bytes int64, k schedule.Costs) float64 {
	sc, ok := ch.StepCost(c, a, bytes)
	if !ok {
		return math.Inf(1)
	}
	return schedule.EstimateOn(c, a, bytes, ch.p.Ranks(), k, sc)
}

// Choose returns the algorithm of schedule.AvailableOn(c, layout) that
// allowed permits (nil: all) with the smallest Estimate, ties to the
// smaller Algo; schedule.AlgoAuto when none is allowed.
func (ch *Chooser) Choose(c schedule.Coll, bytes int64, k schedule.Costs, allowed func(schedule.Coll, schedule.Algo) bool) schedule.Algo {
	best, bestT := schedule.AlgoAuto, math.Inf(1)
	for _, a := range schedule.AvailableOn(c, ch.l) {
		if allowed != nil && !allowed(c, a) {
			continue
		}
		if e := ch.Estimate(c, a, bytes, k); best == schedule.AlgoAuto || e < bestT {
			best, bestT = a, e
		}
	}
	return best
}
