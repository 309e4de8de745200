package collective

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
)

// TestMesh: every group of a TP x DP x PP mesh has exactly the ranks that
// differ from this one in that coordinate only, ordered by it.
func TestMesh(t *testing.T) {
	tests := []struct{ tp, dp, pp int }{
		{2, 2, 1}, {4, 1, 1}, {1, 4, 1}, {2, 2, 2}, {1, 1, 1}, {3, 1, 2},
	}
	for _, tt := range tests {
		n := tt.tp * tt.dp * tt.pp
		t.Run(fmt.Sprintf("%dx%dx%d", tt.tp, tt.dp, tt.pp), func(t *testing.T) {
			err := RunLocal(context.Background(), n, func(ctx context.Context, c *Comm) error {
				m, err := NewMesh(ctx, c, tt.tp, tt.dp, tt.pp)
				if err != nil {
					return err
				}
				defer m.Close()
				r := c.Rank()
				rank := func(tp, dp, pp int) int { return (pp*tt.dp+dp)*tt.tp + tp }
				if rank(m.TPRank, m.DPRank, m.PPRank) != r {
					return fmt.Errorf("mesh coordinates (%d,%d,%d) of rank %d", m.TPRank, m.DPRank, m.PPRank, r)
				}
				groups := []struct {
					name string
					c    *Comm
					idx  int
					want []int
				}{
					{"TP", m.TP, m.TPRank, nil}, {"DP", m.DP, m.DPRank, nil}, {"PP", m.PP, m.PPRank, nil},
				}
				for i := range tt.tp {
					groups[0].want = append(groups[0].want, rank(i, m.DPRank, m.PPRank))
				}
				for i := range tt.dp {
					groups[1].want = append(groups[1].want, rank(m.TPRank, i, m.PPRank))
				}
				for i := range tt.pp {
					groups[2].want = append(groups[2].want, rank(m.TPRank, m.DPRank, i))
				}
				for _, g := range groups {
					got, err := members(ctx, g.c, r)
					if err != nil {
						return err
					}
					if !slices.Equal(got, g.want) || g.c.Rank() != g.idx {
						return fmt.Errorf("%s group of rank %d = %v (rank %d); want %v (rank %d)", g.name, r, got, g.c.Rank(), g.want, g.idx)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestMeshInvalid: sizes whose product is not the world size are refused.
func TestMeshInvalid(t *testing.T) {
	err := RunLocal(context.Background(), 4, func(ctx context.Context, c *Comm) error {
		for _, s := range [][3]int{{2, 3, 1}, {0, 4, 1}, {4, 1, 0}} {
			if _, err := NewMesh(ctx, c, s[0], s[1], s[2]); !errors.Is(err, ErrInvalid) {
				return fmt.Errorf("NewMesh(%v) = %v; want ErrInvalid", s, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
