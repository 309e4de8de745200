package oracle

import (
	"bytes"
	"context"
	"testing"

	"go.uber.org/goleak"

	"github.com/kizuna-hpc/kizuna/collective"
	"github.com/kizuna-hpc/kizuna/collective/reduce"
	"github.com/kizuna-hpc/kizuna/collective/schedule"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestExpected checks the oracle itself on hand-computable cases.
func TestExpected(t *testing.T) {
	const n = 3
	in := func(tc Case, r int) []int32 {
		b := Input(tc, r, n, 5)
		out := make([]int32, len(b)/4)
		copy(reduce.AsBytes(out), b)
		return out
	}
	tests := []struct {
		tc   Case
		want func(tc Case, rank int) []int32
	}{
		{Case{Coll: schedule.AllReduce, DType: collective.Int32, Op: collective.Sum, Count: 4}, func(tc Case, rank int) []int32 {
			s := make([]int32, 4)
			for r := range n {
				for i, v := range in(tc, r) {
					s[i] += v
				}
			}
			return s
		}},
		{Case{Coll: schedule.AllGather, DType: collective.Int32, Op: collective.Sum, Count: 2}, func(tc Case, rank int) []int32 {
			var s []int32
			for r := range n {
				s = append(s, in(tc, r)...)
			}
			return s
		}},
		{Case{Coll: schedule.Scatter, DType: collective.Int32, Op: collective.Sum, Count: 2, Root: 1}, func(tc Case, rank int) []int32 {
			return in(tc, 1)[rank*2 : rank*2+2]
		}},
		{Case{Coll: schedule.AllToAll, DType: collective.Int32, Op: collective.Sum, Count: 1}, func(tc Case, rank int) []int32 {
			s := make([]int32, n)
			for j := range n {
				s[j] = in(tc, j)[rank]
			}
			return s
		}},
	}
	for _, tt := range tests {
		for r := range n {
			got := Expected(tt.tc, r, n, 5)
			want := reduce.AsBytes(tt.want(tt.tc, r))
			if !bytes.Equal(got, want) {
				t.Errorf("Expected(%v, rank %d) = %v; want %v", tt.tc, r, got, want)
			}
		}
	}
}

// TestCheckCatchesWrongAnswers: Check on a real communicator passes, and the
// comparison it relies on fails on a corrupted output.
func TestCheckCatchesWrongAnswers(t *testing.T) {
	tc := Case{Coll: schedule.AllReduce, Algo: collective.Ring, DType: collective.Float32, Op: collective.Sum, Count: 100}
	err := collective.RunLocal(context.Background(), 3, func(ctx context.Context, c *collective.Comm) error {
		if err := Check(ctx, c, tc, 9); err != nil {
			return err
		}
		got, err := Do(ctx, c, tc, 9)
		if err != nil {
			return err
		}
		got[7] ^= 0x40
		if _, ok := reduce.Equal(tc.DType, got, Expected(tc, c.Rank(), c.Size(), 9)); ok {
			t.Errorf("corrupted output compared equal")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
