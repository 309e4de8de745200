package collective

import (
	"context"

	"github.com/kizuna-hpc/kizuna/collective/reduce"
	"github.com/kizuna-hpc/kizuna/collective/schedule"
)

// DType is an element type. Its values travel in frame headers.
type DType = reduce.DType

// Element types.
const (
	Float32  = reduce.Float32
	Float64  = reduce.Float64
	Float16  = reduce.Float16
	BFloat16 = reduce.BFloat16
	Int8     = reduce.Int8
	Uint8    = reduce.Uint8
	Int32    = reduce.Int32
	Int64    = reduce.Int64
)

// Op is a reduction operator.
type Op = reduce.Op

// Reduction operators. Avg divides the sum by the number of ranks; for
// integers the division truncates toward zero, as NCCL's ncclAvg does.
const (
	Sum  = reduce.Sum
	Prod = reduce.Prod
	Min  = reduce.Min
	Max  = reduce.Max
	Avg  = reduce.Avg
)

// Element is the set of Go element types the typed API accepts. Half
// precision values use reduce.F16 and reduce.BF16.
type Element = reduce.Element

// Algo names an algorithm (schedule family).
type Algo = schedule.Algo

// Algorithms.
const (
	AlgoAuto          = schedule.AlgoAuto
	Ring              = schedule.Ring
	Tree              = schedule.Tree
	HalvingDoubling   = schedule.HalvingDoubling
	RecursiveDoubling = schedule.RecursiveDoubling
)

func bytesOf[T Element](s []T) []byte { return reduce.AsBytes(s) }

// AllReduce reduces send over all ranks into recv (len(recv) == len(send));
// pass the same slice twice for in-place. Every rank gets bitwise-identical
// results. The communicator does not retain send or recv after return.
func AllReduce[T Element](ctx context.Context, c *Comm, send, recv []T, op Op, opts ...CallOption) error {
	return c.AllReduceBytes(ctx, bytesOf(send), bytesOf(recv), reduce.DTypeOf[T](), op, opts...)
}

// Broadcast copies root's send into every rank's recv. send is read only at
// root; pass the same slice twice for in-place.
func Broadcast[T Element](ctx context.Context, c *Comm, send, recv []T, root int, opts ...CallOption) error {
	return c.BroadcastBytes(ctx, bytesOf(send), bytesOf(recv), reduce.DTypeOf[T](), root, opts...)
}

// Reduce reduces send over all ranks into root's recv (nil elsewhere).
func Reduce[T Element](ctx context.Context, c *Comm, send, recv []T, op Op, root int, opts ...CallOption) error {
	return c.ReduceBytes(ctx, bytesOf(send), bytesOf(recv), reduce.DTypeOf[T](), op, root, opts...)
}

// AllGather concatenates every rank's send into recv in rank order
// (len(recv) == Size()*len(send)).
func AllGather[T Element](ctx context.Context, c *Comm, send, recv []T, opts ...CallOption) error {
	return c.AllGatherBytes(ctx, bytesOf(send), bytesOf(recv), reduce.DTypeOf[T](), opts...)
}

// ReduceScatter reduces send over all ranks and leaves this rank's block of
// the result in recv (len(send) == Size()*len(recv)).
func ReduceScatter[T Element](ctx context.Context, c *Comm, send, recv []T, op Op, opts ...CallOption) error {
	return c.ReduceScatterBytes(ctx, bytesOf(send), bytesOf(recv), reduce.DTypeOf[T](), op, opts...)
}

// AllToAll exchanges equal blocks: block j of send goes to rank j, block j
// of recv comes from rank j.
func AllToAll[T Element](ctx context.Context, c *Comm, send, recv []T, opts ...CallOption) error {
	return c.AllToAllBytes(ctx, bytesOf(send), bytesOf(recv), reduce.DTypeOf[T](), opts...)
}

// Gather concatenates every rank's send into root's recv (nil elsewhere).
func Gather[T Element](ctx context.Context, c *Comm, send, recv []T, root int, opts ...CallOption) error {
	return c.GatherBytes(ctx, bytesOf(send), bytesOf(recv), reduce.DTypeOf[T](), root, opts...)
}

// Scatter sends block j of root's send to rank j's recv.
func Scatter[T Element](ctx context.Context, c *Comm, send, recv []T, root int, opts ...CallOption) error {
	return c.ScatterBytes(ctx, bytesOf(send), bytesOf(recv), reduce.DTypeOf[T](), root, opts...)
}

// Send sends buf to rank peer with a tag; it matches the peer's Recv with
// the same tag, in the order sent. It returns once buf may be reused (the
// message may still be in flight).
func Send[T Element](ctx context.Context, c *Comm, buf []T, peer int, tag uint32) error {
	return c.SendBytes(ctx, bytesOf(buf), reduce.DTypeOf[T](), peer, tag)
}

// Recv receives into buf the next message that rank peer sent with tag. The
// message must have exactly len(buf) elements of the same type.
func Recv[T Element](ctx context.Context, c *Comm, buf []T, peer int, tag uint32) error {
	return c.RecvBytes(ctx, bytesOf(buf), reduce.DTypeOf[T](), peer, tag)
}
