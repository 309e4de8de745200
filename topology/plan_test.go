package topology

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestPlanRoundTrip(t *testing.T) {
	topo, _ := Parse("torus:4x4")
	p, _ := Place(topo, "random:3", 16)
	rings, err := EmbedRings(topo, p, 4)
	if err != nil {
		t.Fatal(err)
	}
	trees, err := DoubleTree(topo, p)
	if err != nil {
		t.Fatal(err)
	}
	plan := Plan{
		Topology:  topo.Name(),
		Placement: p.Nodes,
		Rings:     rings,
		Trees:     trees[:],
		Exchanges: []Exchange{{Name: "pairs", Partners: [][]int{{1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14}}}},
	}
	if err := plan.Validate(); err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(plan)
	if err != nil {
		t.Fatal(err)
	}
	var back Plan
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, plan) {
		t.Fatalf("json round trip = %+v; want %+v", back, plan)
	}
	if back.Digest() != plan.Digest() || len(plan.Digest()) != 64 {
		t.Errorf("Digest after round trip = %s; want %s", back.Digest(), plan.Digest())
	}
	// Every field counts.
	changes := []func(*Plan){
		func(q *Plan) { q.Topology = "torus:4x5" },
		func(q *Plan) { q.Placement[0]++ },
		func(q *Plan) { q.Rings[1].Ranks[0], q.Rings[1].Ranks[1] = q.Rings[1].Ranks[1], q.Rings[1].Ranks[0] },
		func(q *Plan) { q.Trees[0].Root++ },
		func(q *Plan) { q.Exchanges[0].Name = "other" },
		func(q *Plan) { q.Exchanges[0].Partners[0][3] = -1 },
		func(q *Plan) { q.Rings = q.Rings[:1] },
	}
	for i, change := range changes {
		var q Plan
		_ = json.Unmarshal(data, &q)
		change(&q)
		if q.Digest() == plan.Digest() {
			t.Errorf("change %d: Digest() unchanged; want a different digest", i)
		}
	}
	// nil and empty slices digest alike.
	a := Plan{Topology: "flat", Placement: []int{0}}
	b := Plan{Topology: "flat", Placement: []int{0}, Rings: []Ring{}, Trees: []Tree{}}
	if a.Digest() != b.Digest() {
		t.Errorf("Digest of nil and empty lists differ: %s, %s", a.Digest(), b.Digest())
	}
}

func TestPlanValidate(t *testing.T) {
	tests := []Plan{
		{Placement: []int{0, 1}, Rings: []Ring{{Ranks: []int{0, 0}}}},
		{Placement: []int{0, 1}, Rings: []Ring{{Ranks: []int{0}}}},
		{Placement: []int{0, 1}, Trees: []Tree{{Root: 0, Parent: []int{-1, -1}, Children: [][]int{nil, nil}}}},
		{Placement: []int{0, 1}, Trees: []Tree{{Root: 0, Parent: []int{-1, 0}, Children: [][]int{nil, {0}}}}},
		{Placement: []int{0, 1, 2}, Trees: []Tree{{Root: 0, Parent: []int{-1, 2, 1}, Children: [][]int{{1}, {2}, {1}}}}},
		{Placement: []int{0, 1}, Exchanges: []Exchange{{Partners: [][]int{{1, 2}}}}},
		{Placement: []int{0, 1}, Exchanges: []Exchange{{Partners: [][]int{{1}}}}},
	}
	for i, tt := range tests {
		if err := tt.Validate(); err == nil {
			t.Errorf("case %d: Plan.Validate() = nil; want an error", i)
		}
	}
}
