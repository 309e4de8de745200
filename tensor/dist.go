package tensor

import (
	"context"
	"fmt"

	"github.com/kizuna-hpc/kizuna/collective"
)

// AllGatherDim gathers a tensor sharded along dim across c: rank i holds
// part i (any size along dim, zero included; the same sizes in every other
// dimension and the same dtype on every rank), and every rank gets the
// concatenation of all parts along dim, in rank order. It is a collective
// operation of c: every rank must call it with the same dim. It first
// exchanges the ranks' shapes (a small all-gather), then moves the data
// with one AllGatherV; for dim > 0 it joins the gathered blocks with
// Concat. local is not modified or retained.
func AllGatherDim(ctx context.Context, c *collective.Comm, local *Tensor, dim int) (*Tensor, error) {
	if err := local.check(); err != nil {
		return nil, fmt.Errorf("tensor: all-gather: %w", err)
	}
	outer, inner, err := local.geometry(dim)
	if err != nil {
		return nil, fmt.Errorf("tensor: all-gather: %w", err)
	}
	nd, p := len(local.Shape), c.Size()
	mine := make([]int64, nd+1)
	mine[0] = int64(local.DType)
	for d, n := range local.Shape {
		mine[d+1] = int64(n)
	}
	shapes := make([]int64, p*(nd+1))
	if err := collective.AllGather(ctx, c, mine, shapes); err != nil {
		return nil, fmt.Errorf("tensor: all-gather: exchange shapes: %w", err)
	}
	sizes := make([]int, p)
	for i := range p {
		s := shapes[i*(nd+1) : (i+1)*(nd+1)]
		for d := range mine {
			if d != dim+1 && s[d] != mine[d] {
				return nil, fmt.Errorf("%w: all-gather along %d: rank %d has %s%v, rank %d %s%v",
					ErrShape, dim, i, collective.DType(s[0]), s[1:], c.Rank(), local.DType, local.Shape)
			}
		}
		sizes[i] = int(s[dim+1])
	}
	es := local.DType.Size()
	counts := make([]int, p)
	total := 0
	for i, n := range sizes {
		counts[i] = outer * n * inner / es
		total += n
	}
	recv := alloc(outer * total * inner)
	if err := c.AllGatherVBytes(ctx, local.Data, recv, counts, local.DType); err != nil {
		return nil, fmt.Errorf("tensor: all-gather: %w", err)
	}
	if outer == 1 { // rank blocks are already the parts in order
		shape := append([]int(nil), local.Shape...)
		shape[dim] = total
		return &Tensor{Shape: shape, DType: local.DType, Data: recv}, nil
	}
	parts := make([]*Tensor, p)
	src := 0
	for i, n := range sizes {
		shape := append([]int(nil), local.Shape...)
		shape[dim] = n
		parts[i] = &Tensor{Shape: shape, DType: local.DType, Data: recv[src : src+outer*n*inner]}
		src += outer * n * inner
	}
	return Concat(dim, parts...)
}

// ReduceScatterDim reduces full (the same shape and dtype on every rank)
// over c with op and returns this rank's part of the result along dim: part
// Rank() of Shard(dim, Size(), Rank()), sizes per ShardSizes. It is a
// collective operation of c. For dim > 0 it first packs each rank's part
// contiguously, then runs one ReduceScatterV. full is not modified or
// retained.
func ReduceScatterDim(ctx context.Context, c *collective.Comm, full *Tensor, dim int, op collective.Op) (*Tensor, error) {
	if err := full.check(); err != nil {
		return nil, fmt.Errorf("tensor: reduce-scatter: %w", err)
	}
	outer, inner, err := full.geometry(dim)
	if err != nil {
		return nil, fmt.Errorf("tensor: reduce-scatter: %w", err)
	}
	p, r := c.Size(), c.Rank()
	n := full.Shape[dim]
	sizes := ShardSizes(n, p)
	es := full.DType.Size()
	counts := make([]int, p)
	for i, k := range sizes {
		counts[i] = outer * k * inner / es
	}
	send := full.Data
	if outer > 1 {
		send = alloc(len(full.Data))
		row, at := n*inner, 0
		for i, k := range sizes {
			prow, off := k*inner, ShardOffset(n, p, i)*inner
			for o := range outer {
				copy(send[at+o*prow:], full.Data[o*row+off:o*row+off+prow])
			}
			at += outer * prow
		}
	}
	shape := append([]int(nil), full.Shape...)
	shape[dim] = sizes[r]
	out := &Tensor{Shape: shape, DType: full.DType, Data: alloc(counts[r] * es)}
	if err := c.ReduceScatterVBytes(ctx, send, out.Data, counts, full.DType, op); err != nil {
		return nil, fmt.Errorf("tensor: reduce-scatter: %w", err)
	}
	return out, nil
}
