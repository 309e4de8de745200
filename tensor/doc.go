// Package tensor is a small dense tensor (shape, element type, contiguous
// row-major bytes) with the sharding helpers tensor parallelism needs:
// split along a dimension into parts of possibly uneven sizes, put the
// parts back together, and the collectives that do the same across ranks
// (AllGatherDim, ReduceScatterDim), built on collective.AllGatherV and
// collective.ReduceScatterV.
//
// Sizes follow one convention everywhere (ShardSizes): n elements split
// into p parts give the first n%p parts one element more, so part i starts
// at i*(n/p) + min(i, n%p), the split torch.tensor_split and Megatron use.
package tensor
