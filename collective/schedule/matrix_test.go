package schedule

import (
	"flag"
	"testing"
)

var fullMatrix = flag.Bool("schedule.full", false,
	"run the whole matrix: 1e5-element counts also at 16 ranks and with 7-element chunks (minutes)")

// matrixSizes are the world sizes of the test matrix.
var matrixSizes = []int{1, 2, 3, 4, 5, 7, 8, 16}

// Counts of the matrix, per the Params convention (per-rank block for
// AllGather and friends): every size runs 0, 1, p-1, p+1 and 1000 with every
// chunk, in-place and root; largeCount (prime) runs at every size up to 8
// unless -short (odd sizes with chunk 0, out of place, root 0; even sizes
// with chunk 4096, in place, root p-1), and in the whole product at every
// size with -schedule.full; hugeCount (prime) runs once per collective
// and algorithm unless -short.
//
// Under -race (what CI runs) the matrix drops hugeCount and runs
// largeCount at sizes 3 and 8 only (one of each kind above): this package
// starts no goroutines, so the race detector can find nothing here and
// only slows the simulator about tenfold; the small counts keep every
// size, chunk, root and in-place combination, and many chunks with uneven
// tails (1000 elements in chunks of 7).
const (
	largeCount = 100003
	hugeCount  = 1000003
)

// symbolicMax bounds the elements per rank checked symbolically (association
// tracked per element); larger calls run over float64 pairs.
const symbolicMax = 4000

// TestMatrix runs every collective and algorithm over the matrix of world
// sizes, counts, chunk sizes, in-place and roots, checking each against the
// sequential reference and, for AllReduce, bitwise agreement between ranks.
func TestMatrix(t *testing.T) {
	for _, coll := range []Coll{AllReduce, Broadcast, Reduce, AllGather, ReduceScatter, AllToAll, Gather, Scatter, Barrier} {
		for _, algo := range AvailableOn(coll, nil) {
			t.Run(coll.String()+"/"+algo.String(), func(t *testing.T) {
				t.Parallel()
				for _, c := range matrixCases(coll, algo, testing.Short(), *fullMatrix) {
					check := checkFloat
					if elems := c.n * max(1, c.p*b2i(blocked(c.coll))); elems <= symbolicMax {
						check = checkSymbolic
					}
					if err := check(c); err != nil {
						t.Errorf("%v: %v", c, err)
					}
				}
			})
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// matrixCases lists the calls TestMatrix runs for (coll, algo).
func matrixCases(coll Coll, algo Algo, short, full bool) []simCase {
	var cs []simCase
	add := func(p, n int, chunks []int) {
		if coll == Barrier {
			n = 0
		}
		roots := []int{0}
		if rooted(coll) && p > 1 {
			roots = append(roots, p-1)
		}
		for _, chunk := range chunks {
			for _, ip := range []bool{false, true} {
				for _, root := range roots {
					cs = append(cs, simCase{coll, algo, p, n, chunk, root, ip, nil})
				}
			}
		}
	}
	all := []int{0, 7, 4096}
	for _, p := range matrixSizes {
		for _, n := range []int{0, 1, p - 1, p + 1, 1000} {
			add(p, n, all)
		}
		switch {
		case full:
			add(p, largeCount, all)
		case !short && p <= 8 && coll != Barrier && (!raceEnabled || p == 3 || p == 8):
			// One call per size, alternating so that the sizes between
			// them take every value of the other dimensions.
			if p%2 == 1 {
				cs = append(cs, simCase{coll, algo, p, largeCount, 0, 0, false, nil})
			} else {
				root := 0
				if rooted(coll) {
					root = p - 1
				}
				cs = append(cs, simCase{coll, algo, p, largeCount, 4096, root, true, nil})
			}
		}
	}
	if !short && !raceEnabled && coll != Barrier {
		cs = append(cs, simCase{coll, algo, 3, hugeCount, 4096, 2, false, nil})
	}
	return cs
}
