package bench

import (
	"bytes"
	"testing"

	"github.com/kizuna-hpc/kizuna/collective"
	"github.com/kizuna-hpc/kizuna/collective/schedule"
	"github.com/kizuna-hpc/kizuna/internal/oracle"
)

// TestExpectedMatchesOracle: the bench's lean reference gives exactly the
// oracle's bytes for every reducing collective, op, dtype, size and rank.
func TestExpectedMatchesOracle(t *testing.T) {
	type tc = oracle.Case
	var tests []tc
	for _, coll := range []schedule.Coll{schedule.AllReduce, schedule.Reduce, schedule.ReduceScatter, schedule.AllGather, schedule.Broadcast} {
		for _, dt := range []collective.DType{collective.Float32, collective.Float64, collective.Float16, collective.BFloat16, collective.Int32, collective.Uint8} {
			for _, op := range []collective.Op{collective.Sum, collective.Prod, collective.Min, collective.Max, collective.Avg} {
				for _, count := range []int{0, 1, 1000} {
					tests = append(tests, tc{Coll: coll, DType: dt, Op: op, Count: count, Root: 1})
				}
			}
		}
	}
	for _, tt := range tests {
		for _, size := range []int{1, 2, 5} {
			if tt.Root >= size {
				tt.Root = 0
			}
			for rank := range size {
				got := expected(tt, rank, size, 7)
				want := oracle.Expected(tt, rank, size, 7)
				if !bytes.Equal(got, want) {
					t.Fatalf("expected(%v %v %v count %d, rank %d of %d) differs from oracle.Expected (%d vs %d bytes)",
						tt.Coll, tt.DType, tt.Op, tt.Count, rank, size, len(got), len(want))
				}
			}
		}
	}
}
