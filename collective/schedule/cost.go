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
//	              swing  as hd (De Sensi et al. 2024: the same steps and bytes;
//	                     its gain is fewer hops and less contention, which only
//	                     EstimateOn sees)
//	              torus, hier, multiring  +Inf: they need a Layout (EstimateOn)
//	Broadcast     ring   (p-1)a + nb                               (pipelined chain)
//	              tree   (lg p)a + nb                              (Sanders et al.)
//	Reduce        ring   (p-1)a + n(b+g)                           (pipelined chain)
//	              tree   (lg p)a + n(b+g)                          (Sanders et al.)
//	AllGather     ring   (p-1)(a + nb)
//	              rd     (lg p)a + (p-1)nb      p a power of two; else as ring
//	ReduceScatter ring   (p-1)(a + n(b+g))
//	              hd     (lg p)a + (p-1)n(b+g)  p a power of two; else as ring
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
		case HalvingDoubling, Swing:
			return 2*lq*al + 2*((q-1)/q)*n*be + ((q-1)/q)*n*ga + fold
		case RecursiveDoubling:
			return lq*(al+n*be+n*ga) + fold
		}
		return math.Inf(1)
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
		if a == HalvingDoubling && pow2(size) {
			return lg*al + (p-1)*n*(be+ga)
		}
		return (p - 1) * (al + n*(be+ga))
	case AllGather:
		if a == RecursiveDoubling && pow2(size) {
			return lg*al + (p-1)*n*be
		}
		return (p - 1) * (al + n*be)
	case AllToAll, Gather, Scatter:
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
// available for c without a Layout (AvailableOn(c, nil)) and allowed (nil
// allows all; an *AlgoSpec's Allowed method fits), breaking ties toward the
// smaller Algo value (so hd over swing, which Estimate prices alike). It returns AlgoAuto
// when no available algorithm is allowed, which the caller should report as
// an error naming its restriction. Choose is a pure function of its
// arguments (allowed must be too) and may be called concurrently.
func Choose(c Coll, bytes int64, size int, k Costs, allowed func(Coll, Algo) bool) Algo {
	best, bestT := AlgoAuto, math.Inf(1)
	for _, a := range AvailableOn(c, nil) {
		if allowed != nil && !allowed(c, a) {
			continue
		}
		if t := Estimate(c, a, bytes, size, k); best == AlgoAuto || t < bestT {
			best, bestT = a, t
		}
	}
	return best
}

// StepCost describes the network under an algorithm's rounds, as plain
// numbers computed elsewhere (package topology, or by hand): per round i
// (in the order Rounds lists them) the hops a message travels and the
// largest number of flows that share one link. A round then costs
// a + Hops[i]·Hop + m·b·Load[i] + (bytes reduced)·g, m the round's message
// bytes. A slice shorter than the rounds repeats its last value (one
// number covers every round); empty means 0 hops and load 1; a load below
// 1 counts as 1.
type StepCost struct {
	// Layout is the layout the algorithm runs on (Torus, Hierarchical and
	// MultiRing need one; Swing uses Dims when given).
	Layout *Layout
	Hop    float64   // seconds per hop (t_hop)
	Hops   []float64 // hops of round i
	Load   []float64 // flows sharing the busiest link in round i
}

// Round is one round of an algorithm in the cost model: every rank sends
// messages of Bytes (on each of its rings for MultiRing) and reduces
// Reduced bytes; the round's messages go out together.
type Round struct {
	Bytes, Reduced float64
}

// Rounds returns the rounds of AllReduce with algorithm a on size ranks
// laid out as l, bytes in all, in execution order (the critical path of
// the busiest rank), or nil when a has no AllReduce schedule for l. With
// p = size, n = bytes, q the largest power of two <= p:
//
//	ring       2(p-1) rounds of n/p (the first p-1 reduce n/p)
//	hd, swing  fold n if p != q; log2 q halving rounds of n/2, n/4, ...,
//	           n/q reduced; the same back; unfold n. Swing with Dims of two
//	           or more dimensions: one fold round of n per dimension whose
//	           size is not a power of two, then the halving rounds of all
//	           dimensions' steps together, back, and the unfolds
//	rd         fold; log2 q rounds of n reduced; unfold
//	torus      for each dimension d_j > 1 in order, on the shard n_j
//	           (n_0 = n, n_{j+1} = n_j/d_j): d_j-1 rounds of n_{j+1}
//	           reduced; then the same rounds in reverse, not reduced
//	hier       m = smallest group, g groups, e = ceil(largest/m)-1: e fold
//	           rounds of n; torus rounds for dims (m, g); e unfold rounds
//	multiring  2(p-1) rounds of k flows of n/(kp) with k rings (the first
//	           p-1 reduce n/p: every ring's block)
//	tree       2·lg p rounds of n/lg p, half of them reduced (pipelined
//	           limit)
//
// It is a pure function and may be called concurrently.
func Rounds(a Algo, bytes int64, size int, l *Layout) []Round {
	if size < 1 || bytes < 0 || missing(a, l) != "" {
		return nil
	}
	n, p := float64(bytes), size
	if p == 1 {
		return []Round{}
	}
	var rs []Round
	add := func(k int, m float64, red bool) {
		for range k {
			r := Round{Bytes: m}
			if red {
				r.Reduced = m
			}
			rs = append(rs, r)
		}
	}
	// dimRounds appends the rounds of a dimension-wise all-reduce over
	// dims, each level a ring or a (folded) swing.
	var dimRounds func(dims []int, n float64, swing bool)
	dimRounds = func(dims []int, n float64, swing bool) {
		if len(dims) == 0 {
			return
		}
		d := dims[0]
		if d == 1 {
			dimRounds(dims[1:], n, swing)
			return
		}
		if !swing {
			add(d-1, n/float64(d), true)
			dimRounds(dims[1:], n/float64(d), swing)
			add(d-1, n/float64(d), false)
			return
		}
		q := pow2Floor(d)
		if q != d {
			add(1, n, true)
		}
		m := n
		for w := q / 2; w >= 1; w /= 2 {
			m /= 2
			add(1, m, true)
		}
		dimRounds(dims[1:], n/float64(q), swing)
		for w := 1; w < q; w *= 2 {
			add(1, n/float64(q)*float64(w), false)
		}
		if q != d {
			add(1, n, false)
		}
	}
	switch a {
	case Ring:
		add(p-1, n/float64(p), true)
		add(p-1, n/float64(p), false)
	case Tree:
		lg := bits.Len(uint(p - 1))
		add(lg, n/float64(lg), true)
		add(lg, n/float64(lg), false)
	case HalvingDoubling:
		dimRounds([]int{p}, n, true)
	case Swing:
		if l != nil && multiDim(l.Dims) {
			// All dimensions at once (swingTorus): a fold round per
			// dimension with extra ranks, lg of the core halving rounds,
			// the same doubling, the unfolds.
			folds, steps := 0, 0
			for _, d := range l.Dims {
				q := pow2Floor(d)
				if q != d {
					folds++
				}
				steps += bits.Len(uint(q)) - 1
			}
			add(folds, n, true)
			for i := 1; i <= steps; i++ {
				add(1, n/float64(int(1)<<i), true)
			}
			for i := steps; i >= 1; i-- {
				add(1, n/float64(int(1)<<i), false)
			}
			add(folds, n, false)
		} else if l != nil && len(l.Dims) > 0 {
			dimRounds(l.Dims, n, true)
		} else {
			dimRounds([]int{p}, n, true)
		}
	case RecursiveDoubling:
		q := pow2Floor(p)
		if q != p {
			add(1, n, true)
		}
		add(bits.Len(uint(q))-1, n, true)
		if q != p {
			add(1, n, false)
		}
	case Torus:
		dimRounds(l.Dims, n, false)
	case Hierarchical:
		m, big := len(l.Groups[0]), 0
		for _, g := range l.Groups {
			m, big = min(m, len(g)), max(big, len(g))
		}
		e := (big+m-1)/m - 1
		add(e, n, true)
		dimRounds([]int{m, len(l.Groups)}, n, false)
		add(e, n, false)
	case MultiRing:
		k := float64(len(ringsOf(l)))
		for i := range 2 * (p - 1) {
			r := Round{Bytes: n / k / float64(p)}
			if i < p-1 {
				r.Reduced = n / float64(p) // every ring's block
			}
			rs = append(rs, r)
		}
	default:
		return nil
	}
	return rs
}

// EstimateOn is Estimate with the network described by t: for AllReduce it
// sums the rounds of Rounds(a, bytes, size, t.Layout), each costing
// a + h·t.Hop + m·b·c + r·g (see StepCost); for the other collectives it
// applies t's first round to every message of Estimate's formula (a + h·Hop
// for a, b·c for b). It returns +Inf when a has no schedule for c on
// t.Layout, and 0 on one rank. It is a pure function and may be called
// concurrently.
func EstimateOn(c Coll, a Algo, bytes int64, size int, k Costs, t StepCost) float64 {
	if size < 1 || bytes < 0 || !available(c, a) || missing(a, t.Layout) != "" {
		return math.Inf(1)
	}
	if size == 1 {
		return 0
	}
	at := func(s []float64, i int, def float64) float64 {
		if len(s) == 0 {
			return def
		}
		return s[min(i, len(s)-1)]
	}
	if c != AllReduce {
		k2 := k
		k2.Alpha += at(t.Hops, 0, 0) * t.Hop
		k2.Beta *= max(1, at(t.Load, 0, 1))
		return Estimate(c, a, bytes, size, k2)
	}
	total := 0.0
	for i, r := range Rounds(a, bytes, size, t.Layout) {
		total += k.Alpha + at(t.Hops, i, 0)*t.Hop + r.Bytes*k.Beta*max(1, at(t.Load, i, 1)) + r.Reduced*k.Gamma
	}
	return total
}

// ChooseOn is Choose with EstimateOn under t: the cheapest algorithm of
// AvailableOn(c, t.Layout) that allowed permits, ties to the smaller Algo.
func ChooseOn(c Coll, bytes int64, size int, k Costs, t StepCost, allowed func(Coll, Algo) bool) Algo {
	best, bestT := AlgoAuto, math.Inf(1)
	for _, a := range AvailableOn(c, t.Layout) {
		if allowed != nil && !allowed(c, a) {
			continue
		}
		if e := EstimateOn(c, a, bytes, size, k, t); best == AlgoAuto || e < bestT {
			best, bestT = a, e
		}
	}
	return best
}
