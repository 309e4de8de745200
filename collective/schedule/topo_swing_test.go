package schedule

import (
	"fmt"
	"testing"
)

// TestSwingTorus: Swing over every dimension at once gives the reference
// result with bitwise agreement on grids with folds in several dimensions
// and placed by a permutation.
func TestSwingTorus(t *testing.T) {
	tests := []struct {
		dims []int
		grid bool
	}{
		{[]int{2, 2}, false}, {[]int{4, 4}, true}, {[]int{3, 3}, false}, {[]int{3, 5, 3}, true},
		{[]int{6, 5}, false}, {[]int{2, 3, 2}, true}, {[]int{8, 2}, false}, {[]int{1, 4, 1, 3}, true},
	}
	for i, tt := range tests {
		p := 1
		for _, d := range tt.dims {
			p *= d
		}
		l := &Layout{Dims: tt.dims}
		if tt.grid {
			l.Grid = perm(p, uint64(40+i))
		}
		t.Run(fmt.Sprint(tt.dims), func(t *testing.T) {
			t.Parallel()
			for _, n := range []int{0, 1, p - 1, p + 3, 257} {
				for _, chunk := range []int{0, 5} {
					for _, ip := range []bool{false, true} {
						c := simCase{AllReduce, Swing, p, n, chunk, 0, ip, l}
						if err := checkSymbolic(c); err != nil {
							t.Errorf("%v: %v", c, err)
						}
					}
				}
			}
		})
	}
}

// TestSwingTorusAlternates: on a 4x8 grid the steps cycle through the
// dimensions (0, 1, 0, 1, 1), each partner one coordinate away by Swing's
// distances 1, 1, 3 (mod the size), and the rounds match Rounds.
func TestSwingTorusAlternates(t *testing.T) {
	dims := []int{4, 8}
	l := &Layout{Dims: dims}
	wantDim := []int{0, 1, 0, 1, 1}
	wantDist := []int{1, 1, 1, 1, 3}
	for r := range 32 {
		s, err := Build(Params{Coll: AllReduce, Algo: Swing, Rank: r, Size: 32, Count: 64, Layout: l})
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Steps) != 10 {
			t.Fatalf("rank %d: %d steps; want 10 (5 halving, 5 doubling)", r, len(s.Steps))
		}
		if got := len(Rounds(Swing, 256, 32, l)); got != len(s.Steps) {
			t.Errorf("Rounds(swing, 4x8) = %d rounds; want %d, one per step", got, len(s.Steps))
		}
		for i, st := range s.Steps[:5] {
			peer := st.Sends[0].Peer
			dr := []int{peer%4 - r%4, peer/4 - r/4}
			for d := range dr {
				dr[d] = min(mod(dr[d], dims[d]), mod(-dr[d], dims[d]))
			}
			other := 1 - wantDim[i]
			if dr[other] != 0 || dr[wantDim[i]] != wantDist[i] {
				t.Errorf("rank %d step %d: partner %d, distance %v; want %d along dimension %d only", r, i, peer, dr, wantDist[i], wantDim[i])
			}
		}
	}
}
