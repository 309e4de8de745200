package bench

import (
	"math"
	"slices"
	"testing"
)

func TestSizes(t *testing.T) {
	tests := []struct {
		min, max, factor int64
		want             []int64
	}{
		{8, 64, 2, []int64{8, 16, 32, 64}},
		{8, 100, 4, []int64{8, 32}},
		{0, 8, 2, []int64{0, 2, 4, 8}},
		{0, 0, 2, []int64{0}},
		{5, 4, 2, nil},
		{3, 100, 1, []int64{3}},
		{3, 100, 0, []int64{3}},
		{1, math.MaxInt64, 1 << 62, []int64{1, 1 << 62}},
		{1 << 62, math.MaxInt64, 2, []int64{1 << 62}},
	}
	for _, tt := range tests {
		if got := Sizes(tt.min, tt.max, tt.factor); !slices.Equal(got, tt.want) {
			t.Errorf("Sizes(%d, %d, %d) = %v; want %v", tt.min, tt.max, tt.factor, got, tt.want)
		}
	}
}
