package collective

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"unsafe"

	"github.com/kizuna-hpc/kizuna/collective/reduce"
	"github.com/kizuna-hpc/kizuna/collective/schedule"
)

// CallOption adjusts one call. Options are plain values (not closures) so
// that passing them costs no allocation.
type CallOption struct {
	algo schedule.Algo
}

// WithAlgo forces the algorithm of one call, overriding both the cost model
// and KIZUNA_ALGO. Every rank must pass the same algorithm; a rank that
// chooses differently gets ErrMismatch.
func WithAlgo(a Algo) CallOption { return CallOption{algo: a} }

// invalid builds a local-misuse error.
func invalid(op schedule.Coll, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, op, fmt.Sprintf(format, args...))
}

func sameMem(a, b []byte) bool {
	return len(a) > 0 && len(b) > 0 && unsafe.SliceData(a) == unsafe.SliceData(b)
}

// overlapsMem reports whether a and b share any byte.
func overlapsMem(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	pa, pb := uintptr(unsafe.Pointer(unsafe.SliceData(a))), uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return pa < pb+uintptr(len(b)) && pb < pa+uintptr(len(a))
}

// checkAlias decides whether in and out describe an in-place call: in must
// be exactly out[off:off+len(in)] (or not overlap out at all).
func checkAlias(coll schedule.Coll, in, out []byte, off int) (inPlace bool, err error) {
	if !overlapsMem(in, out) {
		return false, nil
	}
	if off >= 0 && off+len(in) <= len(out) && sameMem(in, out[off:]) {
		return true, nil
	}
	return false, invalid(coll, "send and receive buffers overlap but the call is not in-place (in-place means the send buffer is the receive buffer's own block)")
}

func (c *Comm) checkDT(coll schedule.Coll, dt reduce.DType, bufs ...[]byte) error {
	if !dt.Valid() {
		return invalid(coll, "unknown dtype %d", dt)
	}
	for _, b := range bufs {
		if len(b)%dt.Size() != 0 {
			return invalid(coll, "buffer of %d bytes is not a whole number of %s elements", len(b), dt)
		}
	}
	return nil
}

func (c *Comm) checkRoot(coll schedule.Coll, root int) error {
	if root < 0 || root >= c.size {
		return invalid(coll, "root %d out of range [0, %d)", root, c.size)
	}
	return nil
}

// blocks checks a call whose big buffer holds Size() blocks of len(small)
// bytes (AllGather and Gather receive into it, ReduceScatter and Scatter
// send from it); the call is in-place when small is big's own block. With
// root >= 0 only the root uses big: elsewhere it is ignored and nil is
// returned for it.
func (c *Comm) blocks(coll schedule.Coll, dt DType, root int, small, big []byte, bigName, smallName string) (bigOut []byte, inPlace bool, err error) {
	if root >= 0 {
		if err := c.checkRoot(coll, root); err != nil {
			return nil, false, err
		}
	}
	if err := c.checkDT(coll, dt, small, big); err != nil {
		return nil, false, err
	}
	if root >= 0 && c.rank != root {
		return nil, false, nil
	}
	if len(big) != len(small)*c.size {
		return nil, false, invalid(coll, "%s has %d bytes, want %d (size %d x %s %d)", bigName, len(big), len(small)*c.size, c.size, smallName, len(small))
	}
	inPlace, err = checkAlias(coll, small, big, c.rank*len(small))
	return big, inPlace, err
}

// AllReduceBytes reduces send over all ranks into recv with op. send and recv
// hold the same number of dt elements; pass the same slice for in-place.
func (c *Comm) AllReduceBytes(ctx context.Context, send, recv []byte, dt DType, op Op, opts ...CallOption) error {
	const coll = schedule.AllReduce
	if err := c.checkDT(coll, dt, send, recv); err != nil {
		return err
	}
	if !op.Valid() {
		return invalid(coll, "unknown reduction op %d", op)
	}
	if len(send) != len(recv) {
		return invalid(coll, "send has %d bytes, recv %d; want equal", len(send), len(recv))
	}
	inPlace, err := checkAlias(coll, send, recv, 0)
	if err != nil {
		return err
	}
	count := len(recv) / dt.Size()
	return c.collective(ctx, call{coll: coll, dt: dt, op: op, in: send, out: recv, count: count, inPlace: inPlace}, opts)
}

// BroadcastBytes copies root's send into recv on every rank. send is read
// only at root (other ranks may pass nil); pass the same slice as send and
// recv for in-place.
func (c *Comm) BroadcastBytes(ctx context.Context, send, recv []byte, dt DType, root int, opts ...CallOption) error {
	const coll = schedule.Broadcast
	if err := c.checkRoot(coll, root); err != nil {
		return err
	}
	if err := c.checkDT(coll, dt, send, recv); err != nil {
		return err
	}
	inPlace := false
	if c.rank == root {
		if len(send) != len(recv) {
			return invalid(coll, "root's send has %d bytes, recv %d; want equal", len(send), len(recv))
		}
		var err error
		if inPlace, err = checkAlias(coll, send, recv, 0); err != nil {
			return err
		}
	} else {
		send = nil
	}
	count := len(recv) / dt.Size()
	return c.collective(ctx, call{coll: coll, dt: dt, op: reduce.Sum, in: send, out: recv, count: count, root: root, inPlace: inPlace}, opts)
}

// ReduceBytes reduces send over all ranks into root's recv. recv is used only
// at root (other ranks may pass nil).
func (c *Comm) ReduceBytes(ctx context.Context, send, recv []byte, dt DType, op Op, root int, opts ...CallOption) error {
	const coll = schedule.Reduce
	if err := c.checkRoot(coll, root); err != nil {
		return err
	}
	if err := c.checkDT(coll, dt, send, recv); err != nil {
		return err
	}
	if !op.Valid() {
		return invalid(coll, "unknown reduction op %d", op)
	}
	inPlace := false
	if c.rank == root {
		if len(send) != len(recv) {
			return invalid(coll, "send has %d bytes, root's recv %d; want equal", len(send), len(recv))
		}
		var err error
		if inPlace, err = checkAlias(coll, send, recv, 0); err != nil {
			return err
		}
	} else {
		recv = nil
	}
	count := len(send) / dt.Size()
	return c.collective(ctx, call{coll: coll, dt: dt, op: op, in: send, out: recv, count: count, root: root, inPlace: inPlace}, opts)
}

// AllGatherBytes concatenates every rank's send into recv in rank order:
// len(recv) = Size()*len(send). In-place: send is recv's own block,
// recv[Rank()*len(send):][:len(send)].
func (c *Comm) AllGatherBytes(ctx context.Context, send, recv []byte, dt DType, opts ...CallOption) error {
	const coll = schedule.AllGather
	recv, inPlace, err := c.blocks(coll, dt, -1, send, recv, "recv", "send")
	if err != nil {
		return err
	}
	count := len(send) / dt.Size()
	return c.collective(ctx, call{coll: coll, dt: dt, op: reduce.Sum, in: send, out: recv, count: count, inPlace: inPlace}, opts)
}

// ReduceScatterBytes reduces send over all ranks and leaves block Rank() of
// the result in recv: len(send) = Size()*len(recv). In-place: recv is send's
// own block, send[Rank()*len(recv):][:len(recv)].
func (c *Comm) ReduceScatterBytes(ctx context.Context, send, recv []byte, dt DType, op Op, opts ...CallOption) error {
	const coll = schedule.ReduceScatter
	if !op.Valid() {
		return invalid(coll, "unknown reduction op %d", op)
	}
	send, inPlace, err := c.blocks(coll, dt, -1, recv, send, "send", "recv")
	if err != nil {
		return err
	}
	count := len(recv) / dt.Size()
	return c.collective(ctx, call{coll: coll, dt: dt, op: op, in: send, out: recv, count: count, inPlace: inPlace}, opts)
}

// AllToAllBytes sends block j of send to rank j and stores the block from
// rank j in block j of recv; both hold Size() equal blocks. Pass the same
// slice for in-place.
func (c *Comm) AllToAllBytes(ctx context.Context, send, recv []byte, dt DType, opts ...CallOption) error {
	const coll = schedule.AllToAll
	if err := c.checkDT(coll, dt, send, recv); err != nil {
		return err
	}
	if len(send) != len(recv) {
		return invalid(coll, "send has %d bytes, recv %d; want equal", len(send), len(recv))
	}
	if (len(send)/dt.Size())%c.size != 0 {
		return invalid(coll, "%d elements do not split into %d equal blocks", len(send)/dt.Size(), c.size)
	}
	inPlace, err := checkAlias(coll, send, recv, 0)
	if err != nil {
		return err
	}
	count := len(send) / dt.Size() / c.size
	return c.collective(ctx, call{coll: coll, dt: dt, op: reduce.Sum, in: send, out: recv, count: count, inPlace: inPlace}, opts)
}

// GatherBytes concatenates every rank's send into root's recv in rank
// order; recv (Size()*len(send) bytes) is used only at root. In-place at
// root: send is recv's own block.
func (c *Comm) GatherBytes(ctx context.Context, send, recv []byte, dt DType, root int, opts ...CallOption) error {
	const coll = schedule.Gather
	if err := c.checkRoot(coll, root); err != nil {
		return err
	}
	recv, inPlace, err := c.blocks(coll, dt, root, send, recv, "root's recv", "send")
	if err != nil {
		return err
	}
	count := len(send) / dt.Size()
	return c.collective(ctx, call{coll: coll, dt: dt, op: reduce.Sum, in: send, out: recv, count: count, root: root, inPlace: inPlace}, opts)
}

// ScatterBytes sends block j of root's send (Size() blocks of len(recv)
// bytes, read only at root) to rank j's recv. In-place at root: recv is
// send's own block.
func (c *Comm) ScatterBytes(ctx context.Context, send, recv []byte, dt DType, root int, opts ...CallOption) error {
	const coll = schedule.Scatter
	if err := c.checkRoot(coll, root); err != nil {
		return err
	}
	send, inPlace, err := c.blocks(coll, dt, root, recv, send, "root's send", "recv")
	if err != nil {
		return err
	}
	count := len(recv) / dt.Size()
	return c.collective(ctx, call{coll: coll, dt: dt, op: reduce.Sum, in: send, out: recv, count: count, root: root, inPlace: inPlace}, opts)
}

// Barrier returns once every rank has entered it.
func (c *Comm) Barrier(ctx context.Context, opts ...CallOption) error {
	return c.collective(ctx, call{coll: schedule.Barrier, dt: reduce.Uint8, op: reduce.Sum}, opts)
}

// collective runs one validated call: picks the algorithm, builds (or reuses)
// the schedule and executes it.
func (c *Comm) collective(ctx context.Context, op call, opts []CallOption) error {
	if c.behindAsync(ctx) {
		return c.collectiveBehind(ctx, op, opts)
	}
	var o CallOption
	for _, f := range opts {
		if f.algo != schedule.AlgoAuto {
			o.algo = f.algo
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
	algo, err := c.chooseAlgo(cl, o.algo)
	if err != nil {
		return err
	}
	cl.algo = algo
	params := schedule.Params{
		Coll: cl.coll, Algo: algo, Rank: c.rank, Size: c.size, Count: cl.count,
		Root: cl.root, ChunkElems: max(1, c.chunkBytes/cl.dt.Size()), InPlace: cl.inPlace,
		Layout: c.layout,
	}
	p, ok := c.lastPlan.get(params)
	if !ok {
		p = c.scheds[params]
		if p == nil {
			s, err := schedule.Build(params)
			if err != nil {
				return invalid(cl.coll, "%v", err)
			}
			p = newPlan(s, cl.inPlace)
			if len(c.scheds) >= maxPlans {
				clear(c.scheds)
			}
			c.scheds[params] = p
		}
		c.lastPlan.put(params, p)
	}
	return c.execute(ctx, p, cl)
}

// brokenError is the error a call on a broken communicator fails with, or
// nil. c.mu is held.
func (c *Comm) brokenError(cl *call) error {
	if err := c.Err(); err != nil {
		if !errors.Is(err, ErrClosed) {
			err = fmt.Errorf("%w: %w", ErrBroken, err)
		}
		return &OpError{Op: cl.coll.String(), Seq: c.seq + 1, Rank: c.rank, Peer: -1, Err: err}
	}
	return nil
}

// execute runs plan p for cl as the communicator's next operation. c.mu is
// held.
func (c *Comm) execute(ctx context.Context, p *plan, cl *call) error {
	c.seq++
	seq := c.seq
	c.opctx = opContext{Context: ctx, life: c.life}
	now := nowNano() // one clock read for the flight recorder and the timer
	c.obs.begin(cl, seq, len(p.s.Steps), now)
	c.armTimer(seq, now)
	err := c.run(&c.opctx, p, cl, seq)
	c.disarmTimer()
	c.obs.end(cl, err)
	if err != nil {
		return err
	}
	if cl.op == reduce.Avg && len(cl.out) > 0 && reduces(cl.coll) {
		reduce.Finish(cl.op, cl.dt, cl.out, c.size)
	}
	return nil
}

// maxPlans bounds the schedule cache; a program cycling through more shapes
// than this rebuilds schedules (a cost, not a leak).
const maxPlans = 256

// chooseAlgo applies, in order of precedence: the per-call option,
// KIZUNA_ALGO (Config.Algo), a measured rule (measured.go), the cost model.
func (c *Comm) chooseAlgo(cl *call, forced schedule.Algo) (schedule.Algo, error) {
	if forced != schedule.AlgoAuto {
		if c.layout == nil {
			if int(cl.coll) < len(availTable) && int(forced) < len(availTable[0]) && availTable[cl.coll][forced] {
				return forced, nil
			}
			return 0, invalid(cl.coll, "algorithm %s is not available (available: %v; torus, hier, swing and multiring need %s)", forced, Available(cl.coll), EnvTopology)
		}
		avail := c.Available(cl.coll)
		if slices.Contains(avail, forced) {
			return forced, nil
		}
		return 0, invalid(cl.coll, "algorithm %s is not available on %s (available: %v)", forced, "this topology", avail)
	}
	bytes := int64(cl.count) * int64(cl.dt.Size())
	key := choiceKey{cl.coll, bytes}
	if a, ok := c.lastChoice.get(key); ok {
		return a, nil
	}
	if a, ok := c.choices[key]; ok {
		c.lastChoice.put(key, a)
		return a, nil
	}
	avail := c.Available(cl.coll)
	allowed := func(co schedule.Coll, a schedule.Algo) bool { return c.algoSpec.Allowed(co, a) }
	any := false
	for _, a := range avail {
		if allowed(cl.coll, a) {
			any = true
			break
		}
	}
	if !any {
		return 0, invalid(cl.coll, "%s=%q allows none of the available algorithms %v", EnvAlgo, c.algoSpec.String(), avail)
	}
	var a schedule.Algo
	if m, ok := measuredChoice(c.ep.Name(), cl.coll, c.size, bytes, c.oversub); ok && c.layout == nil && allowed(cl.coll, m) {
		a = m // measured.go
	} else if c.layout == nil {
		a = schedule.Choose(cl.coll, bytes, c.size, c.costs, allowed)
	} else {
		a = c.chooseOnTopology(cl.coll, bytes, allowed) // layout.go
	}
	if len(c.choices) >= maxPlans {
		clear(c.choices)
	}
	c.choices[key] = a
	c.lastChoice.put(key, a)
	c.obs.chose(cl.coll, bytes, a) // first time per size class, at info level
	return a, nil
}

// last remembers one entry of a map, the latest looked up. It is not safe
// for concurrent use (Comm.mu guards the Comm's).
type last[K comparable, V any] struct {
	k  K
	v  V
	ok bool
}

func (l *last[K, V]) get(k K) (V, bool) {
	if l.ok && l.k == k {
		return l.v, true
	}
	var zero V
	return zero, false
}

func (l *last[K, V]) put(k K, v V) { l.k, l.v, l.ok = k, v, true }

// reset forgets the entry, for a map that was cleared.
func (l *last[K, V]) reset() { *l = last[K, V]{} }

// Algorithm reports which algorithm a call of coll on count elements of dt
// would use on this communicator (after KIZUNA_ALGO and the cost model), or
// forced when it is not AlgoAuto. Count follows the collective's convention
// (total for AllReduce, per-rank block for AllGather, ...).
func (c *Comm) Algorithm(coll schedule.Coll, dt DType, count int, forced Algo) (Algo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.chooseAlgo(&call{coll: coll, dt: dt, count: count}, forced)
}

// availTable[coll][algo] says whether Available(coll) has algo, without
// allocating a slice per call.
var availTable = func() (t [16][32]bool) {
	for c := range t {
		for _, a := range Available(schedule.Coll(c)) {
			t[c][a] = true
		}
	}
	return t
}()

// Available lists the algorithms this communicator can run for coll: with a
// topology (Config.Topology) the topology-aware ones its layout supports
// too, otherwise those of the package-level Available.
func (c *Comm) Available(coll schedule.Coll) []Algo {
	if c.layout == nil {
		return Available(coll)
	}
	return schedule.AvailableOn(coll, c.layout)
}

// Available lists the algorithms a communicator can run for coll: the
// schedules that need no topology layout (ring, tree, halving-doubling,
// recursive doubling, as each collective has them).
func Available(coll schedule.Coll) []Algo {
	var out []Algo
	for _, a := range schedule.Available(coll) {
		if a >= schedule.Ring && a <= schedule.RecursiveDoubling {
			out = append(out, a)
		}
	}
	return out
}

// reduces reports whether coll combines values with a reduction op: the
// collectives that Avg finishes, mismatch messages name the op of, and the
// flight record shows it for.
func reduces(coll schedule.Coll) bool {
	switch coll {
	case schedule.AllReduce, schedule.Reduce, schedule.ReduceScatter, schedule.ReduceScatterV:
		return true
	}
	return false
}
