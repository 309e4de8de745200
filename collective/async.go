package collective

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kizuna-hpc/kizuna/collective/reduce"
	"github.com/kizuna-hpc/kizuna/collective/schedule"
	"github.com/kizuna-hpc/kizuna/internal/diag"
)

// Handle is an operation started asynchronously (AllReduceAsync, ...).
//
// Operations started on one Comm run one at a time in the order they were
// issued, like the work on one stream; operations on different Comms (a
// communicator and those split from it, say) progress independently. The
// buffers of an operation belong to the runtime until it is done: the
// caller must not read or write them before Done is closed (or Wait has
// returned nil or the operation's error), and the communicator retains none
// of them afterwards.
//
// An asynchronous operation is bounded by the communicator's timeout
// (Config.Timeout), not by a context; Close and Abort end it. A
// synchronous call made while asynchronous operations are pending on the
// same Comm runs after them, in issue order, and returns once it has run:
// its ctx bounds its own operation, not the wait for those before it,
// which only their timeout, Close or Abort shortens. A Handle is
// safe for concurrent use. Starting an operation costs a few small
// allocations (the Handle, its channel, the queued call), which are not
// pooled because the caller keeps the Handle for as long as it likes; the
// synchronous forms stay allocation-free.
type Handle struct {
	done chan struct{} // closed when the operation has finished
	err  error         // written before done is closed
}

// Wait returns the operation's error once it has finished. If ctx ends
// first, Wait returns ctx's error and the operation goes on: ctx bounds only
// the waiting, and the buffers still belong to the runtime.
func (h *Handle) Wait(ctx context.Context) error {
	select {
	case <-h.done:
		return h.err
	default:
	}
	select {
	case <-h.done:
		return h.err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// Done returns a channel that is closed when the operation has finished.
func (h *Handle) Done() <-chan struct{} { return h.done }

// Err returns the operation's error once it has finished, nil before.
func (h *Handle) Err() error {
	select {
	case <-h.done:
		return h.err
	default:
		return nil
	}
}

// doneHandle returns a Handle that has already finished with err.
func doneHandle(err error) *Handle {
	h := &Handle{done: make(chan struct{}), err: err}
	close(h.done)
	return h
}

// asyncOp is one queued operation.
type asyncOp struct {
	h   *Handle
	ctx context.Context // the op's context: the queue's own, or a waiting caller's
	fn  func(ctx context.Context) error
	q   queued // what the flight recorder shows while it waits
}

// queued describes a queued collective for the flight recorder (known is
// false for an operation that gave no description).
type queued struct {
	known bool
	coll  schedule.Coll
	dt    reduce.DType
	op    reduce.Op
	root  int
	bytes int   // the larger of the send and receive buffers
	since int64 // Unix ns, when it was queued
}

func queuedCall(coll schedule.Coll, dt reduce.DType, op reduce.Op, root int, send, recv []byte) queued {
	return queued{known: true, coll: coll, dt: dt, op: op, root: root, bytes: max(len(send), len(recv)), since: nowNano()}
}

// queuedOps lists the operations waiting in the queue (not the one
// running), in order, as flight-recorder entries in state queued: they have
// no sequence number yet (0), no algorithm and no step.
func (c *Comm) queuedOps() []diag.FlightOp {
	q := &c.aq
	q.mu.Lock()
	defer q.mu.Unlock()
	var ops []diag.FlightOp
	for _, a := range q.ops[q.head:] {
		if !a.q.known {
			continue
		}
		op := diag.FlightOp{
			Op: a.q.coll.String(), DType: a.q.dt.String(), Root: a.q.root,
			Bytes: int64(a.q.bytes), State: diag.StateQueued, WaitingOn: -1,
			Start: time.Unix(0, a.q.since),
		}
		if sz := a.q.dt.Size(); sz > 0 {
			op.Count = op.Bytes / int64(sz)
		}
		if reduces(a.q.coll) {
			op.RedOp = a.q.op.String()
		}
		ops = append(ops, op)
	}
	return ops
}

// asyncQueue is the stream of a Comm: one worker goroutine, started by the
// first asynchronous call and stopped by Close, runs the queued operations
// in order.
type asyncQueue struct {
	mu      sync.Mutex
	ops     []asyncOp // ops[head:] are waiting
	head    int
	running bool          // the worker goroutine exists
	closed  bool          // Close was called: the worker drains and exits
	wake    chan struct{} // cap 1: something was queued, or closed
	wg      sync.WaitGroup
	// pending counts queued and running operations; a synchronous call
	// that finds it non-zero queues behind them to keep issue order.
	pending atomic.Int64
	// bg is the context of asynchronous operations: never cancelled (the
	// communicator's timeout, Abort and Close bound them) and marked so
	// that the operation does not queue behind itself.
	bg queuedContext
}

// queuedContext marks the context an operation runs under on the worker.
type queuedContext struct{ context.Context }

// enqueueOp queues fn and returns its Handle; d describes it to the flight
// recorder while it waits, and ctx nil means the queue's own background
// context.
func (c *Comm) enqueueOp(ctx context.Context, d queued, fn func(ctx context.Context) error) *Handle {
	q := &c.aq
	h := &Handle{done: make(chan struct{})}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		h.err = &OpError{Op: "async", Rank: c.rank, Peer: -1, Err: ErrClosed}
		close(h.done)
		return h
	}
	if q.wake == nil {
		q.wake = make(chan struct{}, 1)
		q.bg = queuedContext{context.Background()}
	}
	if ctx == nil {
		ctx = &q.bg
	} else {
		ctx = &queuedContext{ctx}
	}
	if q.head == len(q.ops) {
		q.ops, q.head = q.ops[:0], 0
	}
	q.ops = append(q.ops, asyncOp{h: h, ctx: ctx, fn: fn, q: d})
	q.pending.Add(1)
	if !q.running {
		q.running = true
		q.wg.Add(1)
		go c.drain()
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return h
}

// drain is the worker goroutine: it runs queued operations in order until
// the queue is closed and empty.
func (c *Comm) drain() {
	q := &c.aq
	defer q.wg.Done()
	for {
		q.mu.Lock()
		for q.head == len(q.ops) && !q.closed {
			q.mu.Unlock()
			<-q.wake
			q.mu.Lock()
		}
		if q.head == len(q.ops) {
			q.mu.Unlock()
			return
		}
		op := q.ops[q.head]
		q.ops[q.head] = asyncOp{}
		q.head++
		q.mu.Unlock()

		op.h.err = op.fn(op.ctx)
		q.pending.Add(-1)
		close(op.h.done)
	}
}

// closeQueue stops the worker once it has run (and, the communicator being
// closed, failed) everything queued, and waits for it.
func (c *Comm) closeQueue() {
	q := &c.aq
	q.mu.Lock()
	q.closed = true
	wake := q.wake
	q.mu.Unlock()
	if wake != nil {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	q.wg.Wait()
}

// behindAsync reports whether a synchronous call with ctx must queue behind
// asynchronous operations still pending on c (so that it runs in issue
// order), which is never the case for an operation the worker runs.
func (c *Comm) behindAsync(ctx context.Context) bool {
	if c.aq.pending.Load() == 0 {
		return false
	}
	_, onWorker := ctx.(*queuedContext)
	return !onWorker
}

// runBehind queues fn, the synchronous call op, behind the pending
// asynchronous operations, under the caller's ctx, and waits for it to
// finish: a synchronous call keeps its meaning (ctx ends the operation
// itself, and the buffers are free once it returns), and the flight
// recorder shows it as queued meanwhile.
func (c *Comm) runBehind(ctx context.Context, op *call, fn func(ctx context.Context) error) error {
	h := c.enqueueOp(ctx, queuedCall(op.coll, op.dt, op.op, op.root, op.in, op.out), fn)
	<-h.done
	return h.err
}

// collectiveBehind is collective for a call that must queue behind
// asynchronous operations (kept apart so that the closure does not make the
// plain path allocate).
func (c *Comm) collectiveBehind(ctx context.Context, op call, opts []CallOption) error {
	o := append([]CallOption(nil), opts...)
	return c.runBehind(ctx, &op, func(ctx context.Context) error { return c.collective(ctx, op, o) })
}

// async starts fn(ctx) as c's next asynchronous operation; d describes it
// to the flight recorder while it waits.
func (c *Comm) async(d queued, fn func(ctx context.Context) error) *Handle {
	return c.enqueueOp(nil, d, fn)
}

// AllReduceBytesAsync is AllReduceBytes started asynchronously; see Handle.
func (c *Comm) AllReduceBytesAsync(send, recv []byte, dt DType, op Op, opts ...CallOption) *Handle {
	return c.async(queuedCall(schedule.AllReduce, dt, op, 0, send, recv), func(ctx context.Context) error { return c.AllReduceBytes(ctx, send, recv, dt, op, opts...) })
}

// BroadcastBytesAsync is BroadcastBytes started asynchronously; see Handle.
func (c *Comm) BroadcastBytesAsync(send, recv []byte, dt DType, root int, opts ...CallOption) *Handle {
	return c.async(queuedCall(schedule.Broadcast, dt, 0, root, send, recv), func(ctx context.Context) error { return c.BroadcastBytes(ctx, send, recv, dt, root, opts...) })
}

// ReduceBytesAsync is ReduceBytes started asynchronously; see Handle.
func (c *Comm) ReduceBytesAsync(send, recv []byte, dt DType, op Op, root int, opts ...CallOption) *Handle {
	return c.async(queuedCall(schedule.Reduce, dt, op, root, send, recv), func(ctx context.Context) error { return c.ReduceBytes(ctx, send, recv, dt, op, root, opts...) })
}

// AllGatherBytesAsync is AllGatherBytes started asynchronously; see Handle.
func (c *Comm) AllGatherBytesAsync(send, recv []byte, dt DType, opts ...CallOption) *Handle {
	return c.async(queuedCall(schedule.AllGather, dt, 0, 0, send, recv), func(ctx context.Context) error { return c.AllGatherBytes(ctx, send, recv, dt, opts...) })
}

// ReduceScatterBytesAsync is ReduceScatterBytes started asynchronously; see
// Handle.
func (c *Comm) ReduceScatterBytesAsync(send, recv []byte, dt DType, op Op, opts ...CallOption) *Handle {
	return c.async(queuedCall(schedule.ReduceScatter, dt, op, 0, send, recv), func(ctx context.Context) error { return c.ReduceScatterBytes(ctx, send, recv, dt, op, opts...) })
}

// AllToAllBytesAsync is AllToAllBytes started asynchronously; see Handle.
func (c *Comm) AllToAllBytesAsync(send, recv []byte, dt DType, opts ...CallOption) *Handle {
	return c.async(queuedCall(schedule.AllToAll, dt, 0, 0, send, recv), func(ctx context.Context) error { return c.AllToAllBytes(ctx, send, recv, dt, opts...) })
}

// GatherBytesAsync is GatherBytes started asynchronously; see Handle.
func (c *Comm) GatherBytesAsync(send, recv []byte, dt DType, root int, opts ...CallOption) *Handle {
	return c.async(queuedCall(schedule.Gather, dt, 0, root, send, recv), func(ctx context.Context) error { return c.GatherBytes(ctx, send, recv, dt, root, opts...) })
}

// ScatterBytesAsync is ScatterBytes started asynchronously; see Handle.
func (c *Comm) ScatterBytesAsync(send, recv []byte, dt DType, root int, opts ...CallOption) *Handle {
	return c.async(queuedCall(schedule.Scatter, dt, 0, root, send, recv), func(ctx context.Context) error { return c.ScatterBytes(ctx, send, recv, dt, root, opts...) })
}

// BarrierAsync is Barrier started asynchronously: its Handle is done once
// every rank has entered the barrier.
func (c *Comm) BarrierAsync(opts ...CallOption) *Handle {
	return c.async(queuedCall(schedule.Barrier, reduce.Uint8, 0, 0, nil, nil), func(ctx context.Context) error { return c.Barrier(ctx, opts...) })
}

// AllGatherVBytesAsync is AllGatherVBytes started asynchronously; see
// Handle. counts is retained until the operation is done.
func (c *Comm) AllGatherVBytesAsync(send, recv []byte, counts []int, dt DType, opts ...CallOption) *Handle {
	return c.async(queuedCall(schedule.AllGatherV, dt, 0, 0, send, recv), func(ctx context.Context) error { return c.AllGatherVBytes(ctx, send, recv, counts, dt, opts...) })
}

// ReduceScatterVBytesAsync is ReduceScatterVBytes started asynchronously;
// see Handle. counts is retained until the operation is done.
func (c *Comm) ReduceScatterVBytesAsync(send, recv []byte, counts []int, dt DType, op Op, opts ...CallOption) *Handle {
	return c.async(queuedCall(schedule.ReduceScatterV, dt, op, 0, send, recv), func(ctx context.Context) error {
		return c.ReduceScatterVBytes(ctx, send, recv, counts, dt, op, opts...)
	})
}

// AllReduceAsync is AllReduce started asynchronously; see Handle.
func AllReduceAsync[T Element](c *Comm, send, recv []T, op Op, opts ...CallOption) *Handle {
	return c.AllReduceBytesAsync(bytesOf(send), bytesOf(recv), reduce.DTypeOf[T](), op, opts...)
}

// BroadcastAsync is Broadcast started asynchronously; see Handle.
func BroadcastAsync[T Element](c *Comm, send, recv []T, root int, opts ...CallOption) *Handle {
	return c.BroadcastBytesAsync(bytesOf(send), bytesOf(recv), reduce.DTypeOf[T](), root, opts...)
}

// ReduceAsync is Reduce started asynchronously; see Handle.
func ReduceAsync[T Element](c *Comm, send, recv []T, op Op, root int, opts ...CallOption) *Handle {
	return c.ReduceBytesAsync(bytesOf(send), bytesOf(recv), reduce.DTypeOf[T](), op, root, opts...)
}

// AllGatherAsync is AllGather started asynchronously; see Handle.
func AllGatherAsync[T Element](c *Comm, send, recv []T, opts ...CallOption) *Handle {
	return c.AllGatherBytesAsync(bytesOf(send), bytesOf(recv), reduce.DTypeOf[T](), opts...)
}

// ReduceScatterAsync is ReduceScatter started asynchronously; see Handle.
func ReduceScatterAsync[T Element](c *Comm, send, recv []T, op Op, opts ...CallOption) *Handle {
	return c.ReduceScatterBytesAsync(bytesOf(send), bytesOf(recv), reduce.DTypeOf[T](), op, opts...)
}

// AllToAllAsync is AllToAll started asynchronously; see Handle.
func AllToAllAsync[T Element](c *Comm, send, recv []T, opts ...CallOption) *Handle {
	return c.AllToAllBytesAsync(bytesOf(send), bytesOf(recv), reduce.DTypeOf[T](), opts...)
}

// GatherAsync is Gather started asynchronously; see Handle.
func GatherAsync[T Element](c *Comm, send, recv []T, root int, opts ...CallOption) *Handle {
	return c.GatherBytesAsync(bytesOf(send), bytesOf(recv), reduce.DTypeOf[T](), root, opts...)
}

// ScatterAsync is Scatter started asynchronously; see Handle.
func ScatterAsync[T Element](c *Comm, send, recv []T, root int, opts ...CallOption) *Handle {
	return c.ScatterBytesAsync(bytesOf(send), bytesOf(recv), reduce.DTypeOf[T](), root, opts...)
}

// AllGatherVAsync is AllGatherV started asynchronously; see Handle.
func AllGatherVAsync[T Element](c *Comm, send, recv []T, counts []int, opts ...CallOption) *Handle {
	return c.AllGatherVBytesAsync(bytesOf(send), bytesOf(recv), counts, reduce.DTypeOf[T](), opts...)
}

// ReduceScatterVAsync is ReduceScatterV started asynchronously; see Handle.
func ReduceScatterVAsync[T Element](c *Comm, send, recv []T, counts []int, op Op, opts ...CallOption) *Handle {
	return c.ReduceScatterVBytesAsync(bytesOf(send), bytesOf(recv), counts, reduce.DTypeOf[T](), op, opts...)
}
