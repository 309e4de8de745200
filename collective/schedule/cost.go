package schedule

import (
	"math"
	"math/bits"
)

// Costs are the parameters of the Hockney (alpha-beta) model extended with
// a reduction term (Thakur, Rabenseifner & Gropp, "Optimization of
// Collective Communication Operations in MPICH", IJHPCA 19(1), 2005).
type Costs struct {
	Alpha float64 // seconds per message (latency)
	Beta  float64 // seconds per byte sent (inverse bandwidth)
	Gamma float64 // seconds per byte reduced
}

// Estimate returns the modelled time in seconds of collective c run with
// algorithm a on size ranks, bytes being Params.Count times the element
// size (so the per-rank block for AllGather, ReduceScatter, AllToAll, Gather
// and Scatter). It returns +Inf when a has no schedule for c or size < 1,
// and 0 on one rank. With p = size, n = bytes, a, b, g = Alpha, Beta,
// Gamma, lg p = ceil(log2 p), and, for the folding algorithms, q the largest
// power of two <= p and F = 2a + 2nb + ng when p != q else 0 (the extra
// ranks' input in and result out, as in Thakur et al.):
//
//	AllReduce     ring   2(p-1)a + 2((p-1)/p)nb + ((p-1)/p)ng     (Thakur et al.)
//	              tree   2(lg p)a + 2nb + ng                       (Sanders, Speck & Träff 2009)
//	              hd     2(log2 q)a + 2((q-1)/q)nb + ((q-1)/q)ng + F  (Rabenseifner; Thakur et al.)
//	              rd     (log2 q)(a + nb + ng) + F                 (Thakur et al.)
//	Broadcast     ring   (p-1)a + nb                               (pipelined chain)
//	              tree   (lg p)a + nb                              (Sanders et al.)
//	Reduce        ring   (p-1)a + n(b+g)                           (pipelined chain)
//	              tree   (lg p)a + n(b+g)                          (Sanders et al.)
//	AllGather     ring   (p-1)(a + nb)
//	ReduceScatter ring   (p-1)(a + n(b+g))
//	AllToAll      ring   (p-1)(a + nb)                             (pairwise exchange)
//	Gather        ring   (p-1)(a + nb)                             (pipelined chain)
//	Scatter       ring   (p-1)(a + nb)                             (pipelined chain)
//	Barrier       ring   2p·a                                      (two token passes)
//
// The pipelined schedules (ring Broadcast/Reduce/Gather/Scatter, tree) are
// modelled in the limit of many chunks: each byte crosses each link once
// and the pipeline fill costs one latency per hop; the double binary tree
// moves half the buffer per tree, so a rank sends and receives about n in
// each direction per phase (Sanders et al.). Estimate is a pure function
// and may be called concurrently.
func Estimate(c Coll, a Algo, bytes int64, size int, k Costs) float64 {
	if size < 1 || bytes < 0 || !available(c, a) {
		return math.Inf(1)
	}
	if size == 1 {
		return 0
	}
	p, n := float64(size), float64(bytes)
	al, be, ga := k.Alpha, k.Beta, k.Gamma
	lg := float64(bits.Len(uint(size - 1))) // ceil(log2 p)
	f := foldOf(size)
	q := float64(f.q)
	lq := float64(bits.Len(uint(f.q)) - 1) // log2 q
	fold := 0.0
	if f.rem > 0 {
		fold = 2*al + 2*n*be + n*ga
	}
	switch c {
	case AllReduce:
		switch a {
		case Ring:
			return 2*(p-1)*al + 2*((p-1)/p)*n*be + ((p-1)/p)*n*ga
		case Tree:
			return 2*lg*al + 2*n*be + n*ga
		case HalvingDoubling:
			return 2*lq*al + 2*((q-1)/q)*n*be + ((q-1)/q)*n*ga + fold
		case RecursiveDoubling:
			return lq*(al+n*be+n*ga) + fold
		}
	case Broadcast:
		if a == Tree {
			return lg*al + n*be
		}
		return (p-1)*al + n*be
	case Reduce:
		if a == Tree {
			return lg*al + n*(be+ga)
		}
		return (p-1)*al + n*(be+ga)
	case ReduceScatter:
		return (p - 1) * (al + n*(be+ga))
	case AllGather, AllToAll, Gather, Scatter:
		return (p - 1) * (al + n*be)
	case Barrier:
		return 2 * p * al
	}
	return math.Inf(1)
}

func available(c Coll, a Algo) bool {
	for _, x := range Available(c) {
		if x == a {
			return true
		}
	}
	return false
}

// Choose returns the algorithm with the smallest Estimate for c among those
// Available for c and allowed (nil allows all; an *AlgoSpec's Allowed method
// fits), breaking ties toward the smaller Algo value. It returns AlgoAuto
// when no available algorithm is allowed, which the caller should report as
// an error naming its restriction. Choose is a pure function of its
// arguments (allowed must be too) and may be called concurrently.
func Choose(c Coll, bytes int64, size int, k Costs, allowed func(Coll, Algo) bool) Algo {
	best, bestT := AlgoAuto, math.Inf(1)
	for _, a := range Available(c) {
		if allowed != nil && !allowed(c, a) {
			continue
		}
		if t := Estimate(c, a, bytes, size, k); best == AlgoAuto || t < bestT {
			best, bestT = a, t
		}
	}
	return best
}
