package collective

import (
	"context"
	"errors"
	"fmt"
)

// Mesh is a tensor-parallel x data-parallel x pipeline-parallel device mesh
// over a communicator, laid out as Megatron-LM does: rank
// r = ((pp*DPSize)+dp)*TPSize + tp, so the ranks of one tensor-parallel
// group are adjacent (on one node, when ranks fill nodes in order).
//
// For tp=2, dp=2, pp=1 on 4 ranks:
//
//	        tp=0  tp=1
//	dp=0     r0    r1    <- TP group {0,1}
//	dp=1     r2    r3    <- TP group {2,3}
//	         ^DP groups {0,2} and {1,3}
//
// TP, DP and PP are the groups this rank belongs to: the ranks that differ
// from it only in tp (TP), only in dp (DP), only in pp (PP); each is
// numbered by that coordinate, so TP.Rank() == TPRank. PP is a one-rank
// communicator when there is one stage, never nil (likewise TP and DP).
// The groups are split from the communicator the mesh was built on, so
// closing that communicator closes them too.
type Mesh struct {
	TP, DP, PP             *Comm
	TPRank, DPRank, PPRank int
	TPSize, DPSize, PPSize int
}

// NewMesh splits c into the groups of a tp x dp x pp mesh (see Mesh). It is
// a collective operation of c (three Splits): every rank of c must call it
// with the same sizes, whose product must be c.Size().
func NewMesh(ctx context.Context, c *Comm, tp, dp, pp int) (*Mesh, error) {
	if tp < 1 || dp < 1 || pp < 1 || tp*dp*pp != c.Size() {
		return nil, fmt.Errorf("%w: mesh %dx%dx%d (tp x dp x pp) for %d ranks; want positive sizes whose product is the size",
			ErrInvalid, tp, dp, pp, c.Size())
	}
	r := c.Rank()
	m := &Mesh{
		TPRank: r % tp, DPRank: r / tp % dp, PPRank: r / (tp * dp),
		TPSize: tp, DPSize: dp, PPSize: pp,
	}
	var err error
	// Each group is keyed by its own coordinate and colored by the others.
	if m.TP, err = c.Split(ctx, m.DPRank+dp*m.PPRank, m.TPRank); err != nil {
		return nil, fmt.Errorf("collective: mesh: tensor-parallel groups: %w", err)
	}
	if m.DP, err = c.Split(ctx, m.TPRank+tp*m.PPRank, m.DPRank); err != nil {
		m.TP.Close()
		return nil, fmt.Errorf("collective: mesh: data-parallel groups: %w", err)
	}
	if m.PP, err = c.Split(ctx, m.TPRank+tp*m.DPRank, m.PPRank); err != nil {
		m.TP.Close()
		m.DP.Close()
		return nil, fmt.Errorf("collective: mesh: pipeline groups: %w", err)
	}
	return m, nil
}

// Close closes the mesh's three groups (not the communicator it was built
// on).
func (m *Mesh) Close() error {
	return errors.Join(m.TP.Close(), m.DP.Close(), m.PP.Close())
}
