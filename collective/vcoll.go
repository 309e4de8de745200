package collective

import (
	"context"
	"encoding/binary"

	"github.com/kizuna-hpc/kizuna/collective/reduce"
	"github.com/kizuna-hpc/kizuna/collective/schedule"
)

// Collectives with per-rank counts (MPI's -v forms): counts[i] elements come
// from, or go to, rank i. counts must be the same on every rank (a rank
// that passes different counts gets ErrMismatch); zeros are allowed. They
// run ring schedules (schedule.BuildV); a schedule is cached per distinct
// counts, like the other collectives' per shape.

// AllGatherV concatenates every rank's send into recv in rank order, where
// rank i contributes counts[i] elements: len(send) == counts[Rank()],
// len(recv) == sum(counts), rank i's block at offset sum(counts[:i]).
// In-place: send is recv's own block. The communicator retains neither
// buffer nor counts after return.
func AllGatherV[T Element](ctx context.Context, c *Comm, send, recv []T, counts []int, opts ...CallOption) error {
	return c.AllGatherVBytes(ctx, bytesOf(send), bytesOf(recv), counts, reduce.DTypeOf[T](), opts...)
}

// ReduceScatterV reduces send (sum(counts) elements on every rank) over all
// ranks with op and leaves block Rank() of the result, counts[Rank()]
// elements at offset sum(counts[:Rank()]), in recv. In-place: recv is
// send's own block.
func ReduceScatterV[T Element](ctx context.Context, c *Comm, send, recv []T, counts []int, op Op, opts ...CallOption) error {
	return c.ReduceScatterVBytes(ctx, bytesOf(send), bytesOf(recv), counts, reduce.DTypeOf[T](), op, opts...)
}

// AllGatherVBytes is AllGatherV on raw bytes of dt elements.
func (c *Comm) AllGatherVBytes(ctx context.Context, send, recv []byte, counts []int, dt DType, opts ...CallOption) error {
	const coll = schedule.AllGatherV
	if err := c.checkDT(coll, dt, send, recv); err != nil {
		return err
	}
	total, displ, err := c.checkCounts(coll, counts)
	if err != nil {
		return err
	}
	es := dt.Size()
	if len(send) != counts[c.rank]*es {
		return invalid(coll, "send has %d elements, counts[%d] = %d", len(send)/es, c.rank, counts[c.rank])
	}
	if len(recv) != total*es {
		return invalid(coll, "recv has %d elements, want sum(counts) = %d", len(recv)/es, total)
	}
	inPlace, err := checkAlias(coll, send, recv, displ*es)
	if err != nil {
		return err
	}
	return c.vcollective(ctx, call{coll: coll, dt: dt, op: reduce.Sum, in: send, out: recv, count: total, inPlace: inPlace}, counts, opts)
}

// ReduceScatterVBytes is ReduceScatterV on raw bytes of dt elements.
func (c *Comm) ReduceScatterVBytes(ctx context.Context, send, recv []byte, counts []int, dt DType, op Op, opts ...CallOption) error {
	const coll = schedule.ReduceScatterV
	if err := c.checkDT(coll, dt, send, recv); err != nil {
		return err
	}
	if !op.Valid() {
		return invalid(coll, "unknown reduction op %d", op)
	}
	total, displ, err := c.checkCounts(coll, counts)
	if err != nil {
		return err
	}
	es := dt.Size()
	if len(recv) != counts[c.rank]*es {
		return invalid(coll, "recv has %d elements, counts[%d] = %d", len(recv)/es, c.rank, counts[c.rank])
	}
	if len(send) != total*es {
		return invalid(coll, "send has %d elements, want sum(counts) = %d", len(send)/es, total)
	}
	inPlace, err := checkAlias(coll, recv, send, displ*es)
	if err != nil {
		return err
	}
	return c.vcollective(ctx, call{coll: coll, dt: dt, op: op, in: send, out: recv, count: total, inPlace: inPlace}, counts, opts)
}

// checkCounts validates per-rank counts and returns their sum and this
// rank's offset.
func (c *Comm) checkCounts(coll schedule.Coll, counts []int) (total, displ int, err error) {
	if len(counts) != c.size {
		return 0, 0, invalid(coll, "%d counts for %d ranks", len(counts), c.size)
	}
	for i, n := range counts {
		if n < 0 {
			return 0, 0, invalid(coll, "counts[%d] = %d < 0", i, n)
		}
		if total > maxVTotal-n {
			return 0, 0, invalid(coll, "counts add up to more than %d elements", maxVTotal)
		}
		if i == c.rank {
			displ = total
		}
		total += n
	}
	return total, displ, nil
}

// vcache holds the plans of per-rank-count calls, keyed by vplanKey.
type vcache struct {
	key   []byte
	plans map[string]*plan
}

// maxVTotal bounds sum(counts) (schedule offsets are kept in int32 range).
const maxVTotal = 1<<31 - 1

// countsDigest folds counts into the 32 bits that travel in the frame
// header's Root field, so that ranks passing different counts (with the
// same total) are told apart as a mismatch.
func countsDigest(counts []int) int32 {
	// FNV-1a over the counts' 64-bit little-endian bytes, inline so that
	// a call allocates nothing.
	const prime = 16777619
	h := uint32(2166136261)
	for _, n := range counts {
		v := uint64(n)
		for range 8 {
			h = (h ^ uint32(v&0xff)) * prime
			v >>= 8
		}
	}
	return int32(h)
}

// vplanKey encodes what selects a per-rank-count schedule into c.vc.key,
// reused so that a cache hit allocates nothing.
func (c *Comm) vplanKey(cl *call, chunk int, counts []int) []byte {
	k := c.vc.key[:0]
	k = append(k, byte(cl.coll))
	if cl.inPlace {
		k = append(k, 1)
	} else {
		k = append(k, 0)
	}
	k = binary.AppendUvarint(k, uint64(chunk))
	for _, n := range counts {
		k = binary.AppendUvarint(k, uint64(n))
	}
	c.vc.key = k
	return k
}

// vcollective runs one validated per-rank-count call.
func (c *Comm) vcollective(ctx context.Context, op call, counts []int, opts []CallOption) error {
	if c.behindAsync(ctx) {
		return c.collectiveBehindV(ctx, op, counts, opts)
	}
	for _, o := range opts {
		if o.algo != schedule.AlgoAuto && o.algo != schedule.Ring {
			return invalid(op.coll, "algorithm %s is not available (available: [ring])", o.algo)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return &OpError{Op: op.coll.String(), Seq: c.seq + 1, Rank: c.rank, Peer: -1, Err: ErrClosed}
	}
	c.cur = op
	cl := &c.cur
	defer c.release()
	if err := c.brokenError(cl); err != nil {
		return err
	}
	cl.algo = schedule.Ring
	cl.root = int(countsDigest(counts))
	chunk := max(1, c.chunkBytes/cl.dt.Size())
	key := c.vplanKey(cl, chunk, counts)
	p := c.vc.plans[string(key)]
	if p == nil {
		s, err := schedule.BuildV(schedule.VParams{
			Coll: cl.coll, Algo: schedule.Ring, Rank: c.rank, Size: c.size, Counts: counts,
			ChunkElems: chunk, InPlace: cl.inPlace,
		})
		if err != nil {
			return invalid(cl.coll, "%v", err)
		}
		p = newPlan(s, cl.inPlace)
		if c.vc.plans == nil || len(c.vc.plans) >= maxPlans {
			c.vc.plans = make(map[string]*plan)
		}
		c.vc.plans[string(key)] = p
	}
	return c.execute(ctx, p, cl)
}

// collectiveBehindV is vcollective queued behind asynchronous operations.
func (c *Comm) collectiveBehindV(ctx context.Context, op call, counts []int, opts []CallOption) error {
	counts, opts = append([]int(nil), counts...), append([]CallOption(nil), opts...)
	return c.runBehind(ctx, &op, func(ctx context.Context) error { return c.vcollective(ctx, op, counts, opts) })
}
