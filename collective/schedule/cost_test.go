package schedule

import (
	"math"
	"testing"
)

func TestEstimate(t *testing.T) {
	k := Costs{Alpha: 1, Beta: 0.01, Gamma: 0.001}
	tests := []struct {
		c     Coll
		a     Algo
		bytes int64
		size  int
		want  float64
	}{
		// Ring: 2(p-1)a + 2((p-1)/p)nb + ((p-1)/p)ng with p=4, n=1000.
		{AllReduce, Ring, 1000, 4, 6 + 1.5*1000*0.01 + 0.75*1000*0.001},
		// Tree: 2 lg(p) a + 2nb + ng, lg 5 = 3.
		{AllReduce, Tree, 1000, 5, 6 + 20 + 1},
		// HD, p=8: 2*3a + 2(7/8)nb + (7/8)ng.
		{AllReduce, HalvingDoubling, 800, 8, 6 + 14 + 0.7},
		// HD, p=6 folds onto 4: 2*2a + 2(3/4)nb + (3/4)ng + 2a + 2nb + ng.
		{AllReduce, HalvingDoubling, 400, 6, 4 + 6 + 0.3 + 2 + 8 + 0.4},
		// RD, p=4: 2(a + nb + ng).
		{AllReduce, RecursiveDoubling, 100, 4, 2 * (1 + 1 + 0.1)},
		{Broadcast, Ring, 100, 5, 4 + 1},
		{Broadcast, Tree, 100, 5, 3 + 1},
		{Reduce, Ring, 100, 5, 4 + 1.1},
		{Reduce, Tree, 100, 8, 3 + 1.1},
		{AllGather, Ring, 100, 5, 4 * 2},
		{ReduceScatter, Ring, 100, 5, 4 * 2.1},
		{AllToAll, Ring, 100, 3, 2 * 2},
		{Gather, Ring, 100, 3, 2 * 2},
		{Scatter, Ring, 100, 3, 2 * 2},
		{Barrier, Ring, 0, 6, 12},
		{AllReduce, Ring, 1 << 20, 1, 0},
		{AllGather, Tree, 100, 4, math.Inf(1)},
		{SendRecv, Ring, 100, 4, math.Inf(1)},
		{AllReduce, Ring, 100, 0, math.Inf(1)},
		{AllReduce, Ring, -1, 4, math.Inf(1)},
	}
	for _, tt := range tests {
		got := Estimate(tt.c, tt.a, tt.bytes, tt.size, k)
		if math.Abs(got-tt.want) > 1e-9 && !(math.IsInf(got, 1) && math.IsInf(tt.want, 1)) {
			t.Errorf("Estimate(%v, %v, %d, %d) = %v; want %v", tt.c, tt.a, tt.bytes, tt.size, got, tt.want)
		}
	}
}

func TestChoose(t *testing.T) {
	// Roughly a 10 us, 10 GB/s network with 5 GB/s reductions.
	k := Costs{Alpha: 10e-6, Beta: 1e-10, Gamma: 2e-10}
	noTree := func(c Coll, a Algo) bool { return a != Tree }
	none := func(Coll, Algo) bool { return false }
	spec, err := ParseAlgoSpec("allreduce:ring,hd")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		c       Coll
		bytes   int64
		size    int
		allowed func(Coll, Algo) bool
		want    Algo
	}{
		// Power of two: recursive doubling for latency, halving-doubling
		// (ring's bandwidth, log latency) beyond.
		{AllReduce, 8, 64, nil, RecursiveDoubling},
		{AllReduce, 1 << 30, 64, nil, HalvingDoubling},
		{AllReduce, 8, 64, spec.Allowed, HalvingDoubling},
		{AllReduce, 1 << 30, 64, func(c Coll, a Algo) bool { return a == Ring || a == Tree }, Ring},
		// 48 ranks: folding costs hd and rd a full buffer each way, so the
		// tree wins mid-sized messages and the ring the largest.
		{AllReduce, 8, 48, nil, RecursiveDoubling},
		{AllReduce, 1 << 16, 48, nil, Tree},
		{AllReduce, 1 << 16, 48, noTree, HalvingDoubling},
		{AllReduce, 1 << 30, 48, nil, Ring},
		{Broadcast, 1 << 20, 16, nil, Tree},
		{Broadcast, 1 << 20, 16, noTree, Ring},
		{Broadcast, 100, 2, nil, Ring}, // tie: the smaller Algo wins
		// 8 ranks: log2 8 = 3 rounds against the ring's 7 for the
		// same bytes; on 6 the logarithmic schedules are the ring.
		{AllGather, 100, 8, nil, RecursiveDoubling},
		{AllGather, 100, 6, nil, Ring},
		{AllGather, 100, 8, func(c Coll, a Algo) bool { return a == Ring }, Ring},
		{ReduceScatter, 1 << 20, 4, nil, HalvingDoubling},
		{ReduceScatter, 1 << 20, 12, nil, Ring},
		{AllGather, 100, 8, none, AlgoAuto},
		{SendRecv, 100, 8, nil, AlgoAuto},
	}
	for _, tt := range tests {
		if got := Choose(tt.c, tt.bytes, tt.size, k, tt.allowed); got != tt.want {
			t.Errorf("Choose(%v, %d, %d) = %v; want %v", tt.c, tt.bytes, tt.size, got, tt.want)
		}
	}
}

// TestChooseMinimum: Choose returns an algorithm whose estimate no other
// available algorithm beats.
func TestChooseMinimum(t *testing.T) {
	k := Costs{Alpha: 2e-6, Beta: 4e-10, Gamma: 1e-10}
	for _, c := range []Coll{AllReduce, Broadcast, Reduce, AllGather} {
		for size := 1; size <= 40; size++ {
			for bytes := int64(1); bytes <= 1<<32; bytes *= 8 {
				got := Choose(c, bytes, size, k, nil)
				best := Estimate(c, got, bytes, size, k)
				for _, a := range Available(c) {
					if e := Estimate(c, a, bytes, size, k); e < best {
						t.Errorf("Choose(%v, %d, %d) = %v (%g s); %v is faster (%g s)", c, bytes, size, got, best, a, e)
					}
				}
			}
		}
	}
}
