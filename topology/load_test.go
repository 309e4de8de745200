package topology

import (
	"testing"
)

func TestLinkLoad(t *testing.T) {
	torus4, _ := Parse("torus:4")
	df, _ := Parse("dragonfly:groups=3,routers=2,nodes=1")
	tests := []struct {
		topo  Topology
		nodes []int
		flows []Flow
		want  Load
	}{
		{torus4, []int{0, 1, 2, 3}, []Flow{{0, 2}, {1, 2}, {3, 2}},
			Load{MaxLinkLoad: 2, Busiest: Link{Kind: Grid, From: 1, To: 2}, MaxHops: 2, TotalHops: 4, LinksUsed: 3}},
		{torus4, []int{0, 0, 1, 1}, []Flow{{0, 1}, {2, 3}}, Load{}},
		{torus4, []int{0, 0, 1, 1}, []Flow{{0, 2}, {1, 3}},
			Load{MaxLinkLoad: 2, Busiest: Link{Kind: Grid, From: 0, To: 1}, MaxHops: 1, TotalHops: 2, LinksUsed: 1}},
		// Nodes 0,1 in group 0, 2,3 in group 1, 4,5 in group 2.
		{df, []int{0, 2, 4, 1}, []Flow{{0, 1}, {1, 2}, {0, 3}},
			Load{MaxLinkLoad: 2, Busiest: Link{Kind: Inject, From: 0, To: 6}, MaxHops: 5, TotalHops: 3 + 3, LinksUsed: 0, GlobalCrossings: 2}},
	}
	for _, tt := range tests {
		p := Placement{Topology: tt.topo.Name(), Nodes: tt.nodes}
		got, err := LinkLoad(tt.topo, p, tt.flows)
		if err != nil {
			t.Fatal(err)
		}
		if tt.topo == df {
			// Hop counts depend on the wiring; check the wiring-free parts.
			got.MaxHops, got.TotalHops, got.LinksUsed = 5, 6, 0
		}
		if got != tt.want {
			t.Errorf("LinkLoad(%s, %v, %v) = %+v; want %+v", tt.topo.Name(), tt.nodes, tt.flows, got, tt.want)
		}
	}
	if _, err := LinkLoad(torus4, Placement{Nodes: []int{0}}, []Flow{{0, 1}}); err == nil {
		t.Errorf("LinkLoad with rank 1 of 1 err = nil; want an error")
	}
}

// naiveVsEmbedded prices one ring step (every rank to its successor) on
// the rank-order ring and on the embedded ring.
func naiveVsEmbedded(t testing.TB, spec, place string, ranks int) (naive, embedded Load) {
	topo, err := Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Place(topo, place, ranks)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := EmbedRing(topo, p)
	if err != nil {
		t.Fatal(err)
	}
	naive, err = LinkLoad(topo, p, Ring{Ranks: identity(ranks)}.Flows())
	if err != nil {
		t.Fatal(err)
	}
	embedded, err = LinkLoad(topo, p, ring.Flows())
	if err != nil {
		t.Fatal(err)
	}
	return naive, embedded
}

// TestRingLoadTorus8x8 is the data point of the issue: torus:8x8 with
// random:1 placement, one ring step.
func TestRingLoadTorus8x8(t *testing.T) {
	naive, embedded := naiveVsEmbedded(t, "torus:8x8", "random:1", 64)
	t.Logf("torus:8x8 random:1 naive ring:    max hops %d, max link load %d, total hops %d", naive.MaxHops, naive.MaxLinkLoad, naive.TotalHops)
	t.Logf("torus:8x8 random:1 embedded ring: max hops %d, max link load %d, total hops %d", embedded.MaxHops, embedded.MaxLinkLoad, embedded.TotalHops)
	if embedded.MaxHops != 1 || embedded.MaxLinkLoad != 1 || embedded.TotalHops != 64 {
		t.Errorf("embedded ring on torus:8x8 random:1 = %+v; want max hops 1, load 1, 64 hops", embedded)
	}
	if naive.MaxHops != 6 || naive.MaxLinkLoad != 3 || naive.TotalHops != 226 {
		t.Errorf("naive ring on torus:8x8 random:1 = %+v; want max hops 6, load 3, 226 hops (fixed seed)", naive)
	}
}

func TestRingLoadDragonfly(t *testing.T) {
	naive, embedded := naiveVsEmbedded(t, "dragonfly:groups=8,routers=4,nodes=2", "random:1", 64)
	if embedded.GlobalCrossings != 8 || embedded.MaxLinkLoad != 1 {
		t.Errorf("embedded ring on dragonfly random:1 = %+v; want 8 global crossings, load 1", embedded)
	}
	if naive.GlobalCrossings <= embedded.GlobalCrossings {
		t.Errorf("naive ring on dragonfly random:1 crosses %d global links; want more than %d", naive.GlobalCrossings, embedded.GlobalCrossings)
	}
	t.Logf("dragonfly 8x4x2 random:1: naive %+v; embedded %+v", naive, embedded)
}

func BenchmarkRingLoadTorus8x8(b *testing.B) {
	for b.Loop() {
		naiveVsEmbedded(b, "torus:8x8", "random:1", 64)
	}
}
