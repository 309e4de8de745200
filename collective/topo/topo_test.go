package topo

import (
	"errors"
	"slices"
	"testing"

	"github.com/kizuna-hpc/kizuna/collective/schedule"
	"github.com/kizuna-hpc/kizuna/topology"
)

func mustSetup(t *testing.T, spec, place string, ranks int) (topology.Topology, topology.Placement) {
	t.Helper()
	tp, err := topology.Parse(spec)
	if err != nil {
		t.Fatalf("Parse(%q) = %v", spec, err)
	}
	if ranks == 0 {
		ranks = tp.Nodes()
	}
	p, err := topology.Place(tp, place, ranks)
	if err != nil {
		t.Fatalf("Place(%q, %q, %d) = %v", spec, place, ranks, err)
	}
	return tp, p
}

var sizes = []int64{8, 1 << 20, 64 << 20}

// TestEmbeddedRingBeatsNaive: on torus:8x8 with a random placement the
// embedded ring crosses one link per step and shares none, while the
// rank-order ring wanders.
func TestEmbeddedRingBeatsNaive(t *testing.T) {
	tp, p := mustSetup(t, "torus:8x8", "random:1", 0)
	l, err := LayoutFor(tp, p)
	if err != nil {
		t.Fatalf("LayoutFor = %v", err)
	}
	net := NetFor(tp)
	emb, err := Analyze(tp, p, l, schedule.AllReduce, schedule.Ring, sizes, net)
	if err != nil {
		t.Fatalf("Analyze(embedded ring) = %v", err)
	}
	naive, err := Analyze(tp, p, nil, schedule.AllReduce, schedule.Ring, sizes, net)
	if err != nil {
		t.Fatalf("Analyze(naive ring) = %v", err)
	}
	if emb.MaxHops != 1 || emb.MaxLinkLoad != 1 || emb.MeanHops != 1 {
		t.Errorf("Analyze(embedded ring) = max hops %d, mean %v, max load %d; want 1, 1, 1", emb.MaxHops, emb.MeanHops, emb.MaxLinkLoad)
	}
	if naive.MaxHops <= 1 || naive.MaxLinkLoad <= 1 {
		t.Errorf("Analyze(naive ring) = max hops %d, max load %d; want both > 1", naive.MaxHops, naive.MaxLinkLoad)
	}
	if want := 2 * 63 * 64; emb.Messages != want || emb.Steps != 2*63 {
		t.Errorf("Analyze(embedded ring) = %d messages in %d steps; want %d in %d", emb.Messages, emb.Steps, want, 2*63)
	}
	for i := range sizes {
		if emb.Predicted[i].Seconds >= naive.Predicted[i].Seconds {
			t.Errorf("predicted at %d B: embedded %g s >= naive %g s; want less", sizes[i], emb.Predicted[i].Seconds, naive.Predicted[i].Seconds)
		}
	}
}

// TestAnalyze checks metrics that follow from the algorithm and topology.
func TestAnalyze(t *testing.T) {
	tests := []struct {
		spec, place string
		ranks       int
		algo        schedule.Algo
		naive       bool
		maxHops     int // -1: don't check
		maxLoad     int // -1: don't check
		global      bool
	}{
		{"torus:4x4", "linear", 0, schedule.Ring, false, 1, 1, false},
		{"torus:4x4", "linear", 0, schedule.Torus, false, 1, 1, false},
		{"torus:4x4x4", "random:7", 0, schedule.Torus, false, 1, 1, false},
		{"torus:4x4x4", "random:7", 0, schedule.MultiRing, false, 1, -1, false},
		{"mesh:4x4", "linear", 0, schedule.Ring, false, 1, 1, false},
		{"flat:8", "linear", 0, schedule.RecursiveDoubling, false, 1, 1, false},
		{"torus:8", "linear", 0, schedule.RecursiveDoubling, false, 4, -1, false},
		{"dragonfly:groups=4,routers=2,nodes=2", "linear", 0, schedule.Ring, false, 4, -1, true},
		{"dragonfly:groups=4,routers=2,nodes=2", "linear", 0, schedule.Hierarchical, false, 3, -1, true},
		{"tofu:2x2x2", "linear", 0, schedule.Ring, false, 1, 1, false},
	}
	for _, tt := range tests {
		tp, p := mustSetup(t, tt.spec, tt.place, tt.ranks)
		var l *schedule.Layout
		if !tt.naive {
			var err error
			if l, err = LayoutFor(tp, p); err != nil {
				t.Fatalf("LayoutFor(%s) = %v", tt.spec, err)
			}
		}
		rep, err := Analyze(tp, p, l, schedule.AllReduce, tt.algo, sizes, NetFor(tp))
		if err != nil {
			t.Errorf("Analyze(%s, %v) = %v", tt.spec, tt.algo, err)
			continue
		}
		if tt.maxHops >= 0 && rep.MaxHops != tt.maxHops {
			t.Errorf("Analyze(%s %s, %v).MaxHops = %d; want %d", tt.spec, tt.place, tt.algo, rep.MaxHops, tt.maxHops)
		}
		if tt.maxLoad >= 0 && rep.MaxLinkLoad != tt.maxLoad {
			t.Errorf("Analyze(%s %s, %v).MaxLinkLoad = %d; want %d", tt.spec, tt.place, tt.algo, rep.MaxLinkLoad, tt.maxLoad)
		}
		if got := rep.GlobalLinkCrossings > 0; got != tt.global {
			t.Errorf("Analyze(%s, %v).GlobalLinkCrossings = %d; want > 0: %v", tt.spec, tt.algo, rep.GlobalLinkCrossings, tt.global)
		}
		if len(rep.Predicted) != len(sizes) || !(rep.Predicted[0].Seconds > 0) ||
			!(rep.Predicted[2].Seconds > rep.Predicted[1].Seconds && rep.Predicted[1].Seconds > rep.Predicted[0].Seconds) {
			t.Errorf("Analyze(%s, %v).Predicted = %v; want 3 positive times increasing with size", tt.spec, tt.algo, rep.Predicted)
		}
	}
}

// TestLayoutFor checks the rank grid and groups against the placement.
func TestLayoutFor(t *testing.T) {
	tests := []struct {
		spec, place string
		ranks       int
		dims        []int
		groups      int
	}{
		{"torus:4x4", "random:3", 0, []int{4, 4}, 0},
		{"torus:2x3x4", "linear", 0, []int{2, 3, 4}, 0},
		{"torus:4x4", "linear", 32, []int{2, 4, 4}, 0},
		{"torus:4x4", "linear", 10, nil, 0},
		{"dragonfly:groups=3,routers=2,nodes=2", "random:5", 0, nil, 3},
		{"dragonfly:groups=3,routers=2,nodes=2", "linear", 5, nil, 2},
		{"flat:6", "linear", 0, nil, 0},
	}
	for _, tt := range tests {
		tp, p := mustSetup(t, tt.spec, tt.place, tt.ranks)
		l, err := LayoutFor(tp, p)
		if err != nil {
			t.Fatalf("LayoutFor(%s, %s) = %v", tt.spec, tt.place, err)
		}
		if !slices.Equal(l.Dims, tt.dims) {
			t.Errorf("LayoutFor(%s, %s, %d).Dims = %v; want %v", tt.spec, tt.place, tt.ranks, l.Dims, tt.dims)
		}
		ring, _ := topology.EmbedRing(tp, p)
		if !slices.Equal(l.Ring, ring.Ranks) || len(l.Rings) < 1 {
			t.Errorf("LayoutFor(%s).Ring = %v, %d Rings; want EmbedRing's %v and at least one ring", tt.spec, l.Ring, len(l.Rings), ring.Ranks)
		}
		if len(l.Trees) != 2 || len(l.Trees[0]) != p.Ranks() {
			t.Errorf("LayoutFor(%s).Trees = %v; want two parent arrays of %d ranks", tt.spec, l.Trees, p.Ranks())
		}
		if len(l.Groups) != tt.groups {
			t.Errorf("LayoutFor(%s, %s).Groups = %v; want %d groups", tt.spec, tt.place, l.Groups, tt.groups)
		}
		for _, g := range l.Groups {
			for _, r := range g {
				if tp.Group(p.Nodes[r]) != tp.Group(p.Nodes[g[0]]) {
					t.Errorf("LayoutFor(%s).Groups = %v: rank %d not in the group of rank %d", tt.spec, l.Groups, r, g[0])
				}
			}
		}
		if tt.dims == nil {
			continue
		}
		// Grid must put every rank at its node's coordinates.
		k := 1
		if len(l.Dims) > len(tp.Shape()) {
			k = l.Dims[0]
		}
		for idx, r := range l.Grid {
			c := make([]int, len(l.Dims))
			for i, rem := 0, idx; i < len(l.Dims); i++ {
				c[i], rem = rem%l.Dims[i], rem/l.Dims[i]
			}
			if k > 1 {
				c = c[1:]
			}
			if got := topology.Coord(tp, p.Nodes[r]); !slices.Equal(got, c) {
				t.Errorf("LayoutFor(%s, %s).Grid[%d] = rank %d on node at %v; want node at %v", tt.spec, tt.place, idx, r, got, c)
			}
		}
		// And the layout must be one Build accepts for Torus.
		if _, err := schedule.Build(schedule.Params{Coll: schedule.AllReduce, Algo: schedule.Torus, Size: p.Ranks(), Count: 64, Layout: l}); err != nil {
			t.Errorf("Build(torus on LayoutFor(%s)) = %v", tt.spec, err)
		}
	}
}

func TestAnalyzeErrors(t *testing.T) {
	tp, p := mustSetup(t, "torus:4x4", "linear", 0)
	if _, err := Analyze(tp, p, nil, schedule.AllReduce, schedule.Torus, sizes, NetFor(tp)); !errors.Is(err, schedule.ErrUnavailable) {
		t.Errorf("Analyze(torus, nil layout) = %v; want ErrUnavailable", err)
	}
	big := topology.Placement{Nodes: make([]int, MaxRanks+1)}
	if _, err := Analyze(topology.Flat{}, big, nil, schedule.AllReduce, schedule.Ring, sizes, NetFor(tp)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Analyze(%d ranks) = %v; want ErrTooLarge", MaxRanks+1, err)
	}
}

// TestChooserContention: the automatic choice on a topology prices every
// algorithm with its own steps' hops and link loads. On torus:8x8 with a
// random placement halving-doubling's partners are far apart and share
// links (load 4), while the embedded ring uses each link once: with the
// contention-free model halving-doubling wins at 64 MiB (fewer rounds,
// the same bytes), with the real routing the ring does. A model that
// ignored contention, or priced every algorithm alike, would fail here.
func TestChooserContention(t *testing.T) {
	tp, p := mustSetup(t, "torus:8x8", "random:1", 0)
	l, err := LayoutFor(tp, p)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := NewChooser(tp, p, l, 100e-9)
	if err != nil {
		t.Fatal(err)
	}
	k := schedule.Costs{Alpha: 25e-6, Beta: 0.3e-9, Gamma: 0.1e-9}
	ringOrHD := func(c schedule.Coll, a schedule.Algo) bool {
		return a == schedule.Ring || a == schedule.HalvingDoubling
	}
	const big = 64 << 20
	flat := schedule.ChooseOn(schedule.AllReduce, big, 64, k, schedule.StepCost{Layout: l}, ringOrHD)
	got := ch.Choose(schedule.AllReduce, big, k, ringOrHD)
	if flat != schedule.HalvingDoubling || got != schedule.Ring {
		t.Errorf("choice at 64 MiB: contention-free %v, Chooser %v; want hd, ring", flat, got)
	}
	for _, a := range []schedule.Algo{schedule.Ring, schedule.HalvingDoubling, schedule.Swing, schedule.Torus, schedule.Tree} {
		rep, err := Analyze(tp, p, l, schedule.AllReduce, a, []int64{big}, Net{Costs: k, Hop: 100e-9})
		if err != nil {
			t.Fatal(err)
		}
		if e := ch.Estimate(schedule.AllReduce, a, big, k); e != rep.Predicted[0].Seconds {
			t.Errorf("Chooser.Estimate(%v) = %g; want Analyze's %g", a, e, rep.Predicted[0].Seconds)
		}
		free := schedule.EstimateOn(schedule.AllReduce, a, big, 64, k, schedule.StepCost{Layout: l})
		switch {
		case rep.MaxLinkLoad > 1 && ch.Estimate(schedule.AllReduce, a, big, k) <= free:
			t.Errorf("%v: load %d, estimate %g <= contention-free %g; want more", a, rep.MaxLinkLoad, ch.Estimate(schedule.AllReduce, a, big, k), free)
		case rep.MaxLinkLoad <= 1 && rep.MaxHops <= 1 && ch.Estimate(schedule.AllReduce, a, big, k) > free*1.001:
			t.Errorf("%v: one hop, load 1, estimate %g > contention-free %g", a, ch.Estimate(schedule.AllReduce, a, big, k), free)
		}
	}
	// Over all algorithms at every size the Chooser takes the cheapest.
	for _, b := range []int64{8, 1 << 20, big} {
		a := ch.Choose(schedule.AllReduce, b, k, nil)
		for _, o := range schedule.AvailableOn(schedule.AllReduce, l) {
			if ch.Estimate(schedule.AllReduce, o, b, k) < ch.Estimate(schedule.AllReduce, a, b, k) {
				t.Errorf("Choose at %d B = %v; %v is cheaper", b, a, o)
			}
		}
	}
	if _, err := NewChooser(tp, topology.Placement{Nodes: make([]int, MaxRanks+1)}, l, 0); !errors.Is(err, ErrTooLarge) {
		t.Errorf("NewChooser(%d ranks) = %v; want ErrTooLarge", MaxRanks+1, err)
	}
}
