package schedule

import (
	"testing"
)

// matrixSizes and matrixCounts are the test matrix; counts are per
// the Params convention (per-rank block for AllGather and friends).
var matrixSizes = []int{1, 2, 3, 4, 5, 7, 8, 16}

func matrixCounts(p int) []int {
	return []int{0, 1, p - 1, p + 1, 1000, 100003}
}

// symbolicMax is the largest count checked symbolically (association
// tracked per element); larger counts run over float64.
const symbolicMax = 1000

// TestMatrix runs every collective and algorithm over the matrix of world
// sizes, counts, chunk sizes, in-place and roots, checking each against the
// sequential reference and, for AllReduce, bitwise agreement between ranks.
func TestMatrix(t *testing.T) {
	for _, coll := range []Coll{AllReduce, Broadcast, Reduce, AllGather, ReduceScatter, AllToAll, Gather, Scatter, Barrier} {
		for _, algo := range Available(coll) {
			t.Run(coll.String()+"/"+algo.String(), func(t *testing.T) {
				t.Parallel()
				for _, c := range matrixCases(coll, algo, testing.Short()) {
					check := checkFloat
					if c.n <= symbolicMax {
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

func matrixCases(coll Coll, algo Algo, short bool) []simCase {
	var cs []simCase
	for _, p := range matrixSizes {
		counts := matrixCounts(p)
		if coll == Barrier {
			counts = []int{0}
		}
		for _, n := range counts {
			if short && n > symbolicMax {
				continue
			}
			roots := []int{0}
			if rooted(coll) && p > 1 {
				roots = append(roots, p-1)
			}
			for _, chunk := range []int{0, 7, 4096} {
				for _, ip := range []bool{false, true} {
					for _, root := range roots {
						cs = append(cs, simCase{coll, algo, p, n, chunk, root, ip})
					}
				}
			}
		}
	}
	return cs
}
