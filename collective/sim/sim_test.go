package sim

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/kizuna-hpc/kizuna/collective/schedule"
	"github.com/kizuna-hpc/kizuna/collective/topo"
	"github.com/kizuna-hpc/kizuna/topology"
)

// machine builds a Machine for spec with ranks linearly placed, one per
// node (or n ranks when n > 0), and the runtime's layout.
func machine(t *testing.T, spec string, n int, net Net) Machine {
	t.Helper()
	tp, err := topology.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		n = tp.Nodes()
	}
	pl, err := topology.Place(tp, "linear", n)
	if err != nil {
		t.Fatal(err)
	}
	l, err := topo.LayoutFor(tp, pl)
	if err != nil {
		t.Fatal(err)
	}
	return Machine{Topo: tp, Place: pl, Layout: l, Net: net}
}

func near(a, b, rel float64) bool {
	return math.Abs(a-b) <= rel*math.Max(math.Abs(a), math.Abs(b))
}

// TestHandComputed checks prices against costs worked out by hand.
func TestHandComputed(t *testing.T) {
	const (
		bw    = 1e9
		hop   = 1e-6
		alpha = 2e-6
		gamma = 1e-9
	)
	net := Net{LinkBW: bw, HopLatency: hop, Alpha: alpha}
	ctx := context.Background()
	tests := []struct {
		name  string
		spec  string
		ring  []int // Layout.Ring override; nil keeps the embedded ring
		net   Net
		q     Query
		want  float64
		steps int
	}{
		{
			// 4 ranks on torus:4, the embedded ring 0-1-2-3: 6 steps, one
			// 1-hop message of 1024 floats per link per step.
			name: "ring on torus:4, one flow per link", spec: "torus:4", net: net,
			q:    Query{Coll: schedule.AllReduce, Algo: schedule.Ring, Count: 4096},
			want: 6 * (alpha + hop + 4096/bw), steps: 6,
		},
		{
			// The same with reductions: the 3 reduce-scatter steps add
			// gamma per received byte, and out of place the schedule first
			// copies the 3 blocks this rank does not reduce first into Out
			// (3·4096 bytes at gamma).
			name: "ring on torus:4 with gamma", spec: "torus:4", net: Net{LinkBW: bw, HopLatency: hop, Alpha: alpha, Gamma: gamma},
			q:    Query{Coll: schedule.AllReduce, Algo: schedule.Ring, Count: 4096, ElemSize: 4},
			want: 6*(alpha+hop+4096/bw) + 3*4096*gamma + 3*4096*gamma, steps: 6,
		},
		{
			// Ring order 0,2,1,3 on torus:4: 0->2 and 1->3 are two hops in
			// the same direction and share the link between them, so every
			// step moves twice the bytes through that link and crosses two
			// hops: bandwidth time doubles.
			name: "ring 0,2,1,3 on torus:4, two flows share a link", spec: "torus:4", ring: []int{0, 2, 1, 3}, net: net,
			q:    Query{Coll: schedule.AllReduce, Algo: schedule.Ring, Count: 4096},
			want: 6 * (alpha + 2*hop + 2*4096/bw), steps: 6,
		},
		{
			// Bandwidth only: the doubling is exact.
			name: "ring 0,2,1,3 bandwidth only", spec: "torus:4", ring: []int{0, 2, 1, 3}, net: Net{LinkBW: bw},
			q:    Query{Coll: schedule.AllReduce, Algo: schedule.Ring, Count: 4096},
			want: 2 * 6 * 4096 / bw, steps: 6,
		},
		{
			// torus:2x2 dimension-wise: per dimension one reduce-scatter
			// and one all-gather step of 1-hop messages; the shard halves
			// at the second dimension: 2 steps of n/2, 2 of n/4.
			name: "torus all-reduce on torus:2x2", spec: "torus:2x2", net: net,
			q:    Query{Coll: schedule.AllReduce, Algo: schedule.Torus, Count: 4096},
			want: 2*(alpha+hop+8192/bw) + 2*(alpha+hop+4096/bw), steps: 4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := machine(t, tt.spec, 0, tt.net)
			if tt.ring != nil {
				m.Layout = &schedule.Layout{Ring: tt.ring}
			}
			pr, err := NewPricer(m)
			if err != nil {
				t.Fatal(err)
			}
			for _, full := range []bool{false, true} {
				var e Estimate
				if full {
					e, err = pr.PriceFull(ctx, tt.q)
				} else {
					e, err = pr.Price(ctx, tt.q)
				}
				if err != nil {
					t.Fatal(err)
				}
				if !near(e.Seconds, tt.want, 1e-12) || e.Steps != tt.steps {
					t.Errorf("Price(%v %v, full=%v) = %g s in %d steps; want %g s in %d", tt.q.Algo, tt.q.Count, full, e.Seconds, e.Steps, tt.want, tt.steps)
				}
			}
		})
	}
}

// TestSymmetricMatchesFull checks the symmetric evaluator against full
// per-rank evaluation on small machines: exactly where every block is
// equal, within one element's worth elsewhere.
func TestSymmetricMatchesFull(t *testing.T) {
	net := Net{LinkBW: 2e9, HopLatency: 3e-7, Alpha: 1.5e-6, Gamma: 2e-10}
	ctx := context.Background()
	tests := []struct {
		spec string
		n    int
		algo schedule.Algo
		coll schedule.Coll
	}{
		{"torus:4x4", 0, schedule.Ring, schedule.AllReduce},
		{"torus:4x4", 0, schedule.Torus, schedule.AllReduce},
		{"torus:3x4x2", 0, schedule.Ring, schedule.AllReduce},
		{"torus:3x4x2", 0, schedule.Torus, schedule.AllReduce},
		{"torus:3x4x2", 0, schedule.Ring, schedule.AllGather},
		{"torus:3x4x2", 0, schedule.Ring, schedule.ReduceScatter},
		{"tofu:2x1x1", 0, schedule.Torus, schedule.AllReduce},
		{"mesh:4x3", 0, schedule.Ring, schedule.AllReduce},
		{"torus:4x4", 32, schedule.Torus, schedule.AllReduce}, // two ranks per node
		{"dragonfly:groups=3,routers=2,nodes=2", 0, schedule.Hierarchical, schedule.AllReduce},
		{"dragonfly:groups=3,routers=2,nodes=2", 0, schedule.Ring, schedule.AllReduce},
		{"dragonfly:groups=5,routers=4,nodes=1,global=1", 0, schedule.Hierarchical, schedule.AllReduce},
	}
	for _, tt := range tests {
		m := machine(t, tt.spec, tt.n, net)
		pr, err := NewPricer(m)
		if err != nil {
			t.Fatal(err)
		}
		p := pr.Ranks()
		for _, c := range []struct {
			count, chunk int
			tol          float64
		}{
			{p * 64, 0, 1e-12}, {p * 1024, 256, 1e-12}, {p*100 + 7, 0, 0.03}, {p*100 + 7, 33, 0.03},
		} {
			q := Query{Coll: tt.coll, Algo: tt.algo, Count: c.count, ChunkElems: c.chunk}
			if tt.coll != schedule.AllReduce {
				q.Count = c.count / p
			}
			sym, err := pr.Price(ctx, q)
			if err != nil {
				t.Fatalf("Price(%s %v %v) error %v", tt.spec, tt.coll, tt.algo, err)
			}
			full, err := pr.PriceFull(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if sym.Mode != Symmetric || full.Mode != Full {
				t.Fatalf("modes %v, %v; want symmetric, full", sym.Mode, full.Mode)
			}
			if !near(sym.Seconds, full.Seconds, c.tol) || sym.Steps != full.Steps {
				t.Errorf("%s %v %v count %d chunk %d: symmetric %g s in %d steps; full %g s in %d steps",
					tt.spec, tt.coll, tt.algo, q.Count, c.chunk, sym.Seconds, sym.Steps, full.Seconds, full.Steps)
			}
		}
	}
}

// TestPatternsReused checks that repeated rounds are routed once: every
// step of a ring is one pattern.
func TestPatternsReused(t *testing.T) {
	m := machine(t, "torus:4x4x4", 0, Net{LinkBW: 1e9})
	pr, err := NewPricer(m)
	if err != nil {
		t.Fatal(err)
	}
	e, err := pr.Price(context.Background(), Query{Coll: schedule.AllReduce, Algo: schedule.Ring, Count: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	if e.Steps != 126 || e.Patterns != 1 {
		t.Errorf("ring on 64 ranks: %d steps, %d patterns; want 126, 1", e.Steps, e.Patterns)
	}
	e, err = pr.Price(context.Background(), Query{Coll: schedule.AllReduce, Algo: schedule.Torus, Count: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	if e.Steps != 18 || e.Patterns != 3 {
		t.Errorf("torus on 4x4x4: %d steps, %d patterns; want 18, 3", e.Steps, e.Patterns)
	}
}

// TestErrors checks the refusals: too many ranks for the full evaluator,
// a zero bandwidth, and a symmetry that does not match the schedules.
func TestErrors(t *testing.T) {
	m := machine(t, "torus:4x4", 0, Net{LinkBW: 1e9})
	pr, err := NewPricer(m)
	if err != nil {
		t.Fatal(err)
	}
	pr.maxFull = 8
	if _, err := pr.Price(context.Background(), Query{Coll: schedule.AllReduce, Algo: schedule.Tree, Count: 1024}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Price(tree on 16 ranks, limit 8) error %v; want ErrTooLarge", err)
	}
	if _, err := NewPricer(Machine{Topo: m.Topo, Place: m.Place, Net: Net{}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("NewPricer(zero bandwidth) error %v; want ErrInvalid", err)
	}
	// A symmetry that maps peers wrongly must be caught by the spot check.
	bad := &ringSym{ring: []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, pos: make([]int, 16)}
	for i := range bad.pos {
		bad.pos[i] = (i * 3) % 16 // not the ring the schedule uses
	}
	if err := pr.checkSymmetry(Query{Coll: schedule.AllReduce, Algo: schedule.Ring, ElemSize: 4}, bad, 128); !errors.Is(err, ErrAsymmetric) {
		t.Errorf("checkSymmetry(wrong ring) error %v; want ErrAsymmetric", err)
	}
}

// TestPerRankTiming checks PerRank timing: equal to lock-step where every
// rank does the same (the embedded ring), never beating a shared link's
// capacity (ring 0,2,1,3: link 1->2 carries 12 messages), and faster than
// lock-step for the double binary tree, whose ranks idle in many rounds.
func TestPerRankTiming(t *testing.T) {
	const bw = 1e9
	ctx := context.Background()
	price := func(m Machine, q Query) (lock, rank float64) {
		t.Helper()
		pr, err := NewPricer(m)
		if err != nil {
			t.Fatal(err)
		}
		e, err := pr.PriceFull(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		q.Timing = PerRank
		r, err := pr.PriceFull(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		return e.Seconds, r.Seconds
	}
	ring := Query{Coll: schedule.AllReduce, Algo: schedule.Ring, Count: 4096}
	m := machine(t, "torus:4", 0, Net{LinkBW: bw, HopLatency: 1e-6, Alpha: 2e-6, Gamma: 1e-9})
	if lock, rank := price(m, ring); !near(lock, rank, 1e-12) {
		t.Errorf("embedded ring on torus:4: per-rank %g s; want lock-step's %g s", rank, lock)
	}
	m = machine(t, "torus:4", 0, Net{LinkBW: bw})
	m.Layout = &schedule.Layout{Ring: []int{0, 2, 1, 3}}
	lock, rank := price(m, ring)
	if floor := 12 * 4096 / bw; rank < floor*(1-1e-12) || rank > lock*(1+1e-12) {
		t.Errorf("ring 0,2,1,3 on torus:4: per-rank %g s; want between the shared link's %g s and lock-step's %g s", rank, floor, lock)
	}
	m = machine(t, "torus:4x2", 0, Net{LinkBW: bw, HopLatency: 1e-6, Alpha: 2e-6, Gamma: 1e-9})
	tree := Query{Coll: schedule.AllReduce, Algo: schedule.Tree, Count: 1 << 20, ChunkElems: 1 << 15}
	if lock, rank := price(m, tree); !(rank < lock) {
		t.Errorf("tree on torus:4x2: per-rank %g s; want below lock-step's %g s", rank, lock)
	}
}
