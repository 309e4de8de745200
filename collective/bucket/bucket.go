package bucket

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/kizuna-hpc/kizuna/collective"
	"github.com/kizuna-hpc/kizuna/collective/reduce"
)

// DefaultBucketBytes is the bucket size when Config.BucketBytes is 0: 25
// MiB, PyTorch DDP's default bucket_cap_mb.
const DefaultBucketBytes = 25 << 20

// Sentinel errors.
var (
	// ErrReady: a gradient was marked ready twice in one step.
	ErrReady = errors.New("bucket: gradient already marked ready")
	// ErrNotReady: Wait was called before every gradient was marked ready.
	ErrNotReady = errors.New("bucket: gradients not marked ready")
	// ErrInvalid: bad arguments to New or MarkReady.
	ErrInvalid = errors.New("bucket: invalid argument")
)

// Config tunes a Bucketer.
type Config struct {
	// BucketBytes caps the bytes of one bucket (0: DefaultBucketBytes). A
	// gradient larger than the cap gets a bucket of its own.
	BucketBytes int
	// Average divides the sums by the communicator's size (collective.Avg),
	// the usual data-parallel gradient average.
	Average bool
}

// Bucketer all-reduces a fixed list of gradients in fused buckets. See the
// package doc.
//
// MarkReady may be called from several goroutines at once (autograd hooks
// often run on worker threads); Wait must not run concurrently with
// MarkReady. The gradients are read when their bucket starts and written
// when Wait returns nil: between MarkReady(i) and the end of Wait the
// caller must not write gradient i, and the Bucketer keeps references to
// the gradients for its whole life.
type Bucketer struct {
	c      *collective.Comm
	dt     collective.DType
	op     collective.Op
	grads  [][]byte
	bucket []int // bucket of each gradient
	off    []int // byte offset of each gradient in its bucket's buffer
	index  [][]int

	mu      sync.Mutex
	flat    [][]byte // one buffer per bucket
	ready   []bool   // per gradient, this step
	missing []int    // per bucket, gradients not yet ready this step
	next    int      // first bucket not started this step
	handles []*collective.Handle
}

// New packs float32 gradients into buckets for all-reduces on c; see
// NewBytes.
func New(c *collective.Comm, grads [][]float32, cfg Config) (*Bucketer, error) {
	bs := make([][]byte, len(grads))
	for i, g := range grads {
		bs[i] = reduce.AsBytes(g)
	}
	return NewBytes(c, bs, collective.Float32, cfg)
}

// NewOf is New for gradients of any element type.
func NewOf[T collective.Element](c *collective.Comm, grads [][]T, cfg Config) (*Bucketer, error) {
	bs := make([][]byte, len(grads))
	for i, g := range grads {
		bs[i] = reduce.AsBytes(g)
	}
	return NewBytes(c, bs, reduce.DTypeOf[T](), cfg)
}

// NewBytes packs gradients of dt elements, given as raw bytes, into
// buckets: walking the gradients from last to first, each joins the
// current bucket while that stays within cfg.BucketBytes, else starts a
// new one. Every rank must pass gradients of the same sizes and the same
// Config, so that the buckets agree.
func NewBytes(c *collective.Comm, grads [][]byte, dt collective.DType, cfg Config) (*Bucketer, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: nil communicator", ErrInvalid)
	}
	if !dt.Valid() {
		return nil, fmt.Errorf("%w: unknown dtype %d", ErrInvalid, dt)
	}
	if cfg.BucketBytes < 0 {
		return nil, fmt.Errorf("%w: BucketBytes %d < 0", ErrInvalid, cfg.BucketBytes)
	}
	if cfg.BucketBytes == 0 {
		cfg.BucketBytes = DefaultBucketBytes
	}
	b := &Bucketer{
		c: c, dt: dt, op: collective.Sum, grads: grads,
		bucket: make([]int, len(grads)), off: make([]int, len(grads)), ready: make([]bool, len(grads)),
	}
	if cfg.Average {
		b.op = collective.Avg
	}
	size := 0
	for i := len(grads) - 1; i >= 0; i-- {
		n := len(grads[i])
		if n%dt.Size() != 0 {
			return nil, fmt.Errorf("%w: gradient %d has %d bytes, not a whole number of %s elements", ErrInvalid, i, n, dt)
		}
		if len(b.index) == 0 || (size > 0 && size+n > cfg.BucketBytes) {
			b.index = append(b.index, nil)
			size = 0
		}
		k := len(b.index) - 1
		b.index[k] = append(b.index[k], i)
		b.bucket[i], b.off[i] = k, size
		size += n
	}
	b.flat = make([][]byte, len(b.index))
	b.missing = make([]int, len(b.index))
	for k, idx := range b.index {
		n := 0
		for _, i := range idx {
			n += len(grads[i])
		}
		b.flat[k] = alignedBytes(n)
		b.missing[k] = len(idx)
	}
	return b, nil
}

// alignedBytes returns n bytes aligned for any element type, so that the
// reduction kernels take their fast path.
func alignedBytes(n int) []byte {
	w := make([]int64, (n+7)/8)
	return reduce.AsBytes(w)[:n]
}

// Buckets returns which gradient indices are in which bucket, in the order
// the buckets are all-reduced. The caller owns the result.
func (b *Bucketer) Buckets() [][]int {
	out := make([][]int, len(b.index))
	for k, idx := range b.index {
		out[k] = append([]int(nil), idx...)
	}
	return out
}

// MarkReady says gradient i holds its final value for this step. When that
// completes a bucket, the bucket's gradients are copied into its buffer and
// its all-reduce is started, together with those of any later complete
// buckets (buckets start in order). Marking a gradient twice in one step
// is an error (ErrReady).
func (b *Bucketer) MarkReady(i int) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if i < 0 || i >= len(b.grads) {
		return fmt.Errorf("%w: gradient %d out of range [0, %d)", ErrInvalid, i, len(b.grads))
	}
	if b.ready[i] {
		return fmt.Errorf("%w: gradient %d", ErrReady, i)
	}
	b.ready[i] = true
	b.missing[b.bucket[i]]--
	for b.next < len(b.index) && b.missing[b.next] == 0 {
		b.start(b.next)
		b.next++
	}
	return nil
}

// start packs bucket k and starts its all-reduce. b.mu is held.
func (b *Bucketer) start(k int) {
	flat := b.flat[k]
	for _, i := range b.index[k] {
		copy(flat[b.off[i]:], b.grads[i])
	}
	b.handles = append(b.handles, b.c.AllReduceBytesAsync(flat, flat, b.dt, b.op))
}

// Wait waits for every bucket's all-reduce and copies the results into the
// gradients, then resets the Bucketer for the next step. It fails with
// ErrNotReady, changing nothing, if some gradient was not marked ready. If
// ctx ends first it returns ctx's error and the all-reduces go on; call
// Wait again to finish the step. An all-reduce error is returned once all
// buckets are done (the gradients are then not written, and the
// communicator is broken).
func (b *Bucketer) Wait(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.next < len(b.index) {
		var missing []int
		for i, r := range b.ready {
			if !r {
				missing = append(missing, i)
			}
		}
		return fmt.Errorf("%w: %v", ErrNotReady, missing)
	}
	for _, h := range b.handles {
		select {
		case <-h.Done():
		case <-ctx.Done():
			return fmt.Errorf("bucket: wait: %w", context.Cause(ctx))
		}
	}
	var errs []error
	for k, h := range b.handles {
		if err := h.Err(); err != nil {
			errs = append(errs, fmt.Errorf("bucket %d: %w", k, err))
		}
	}
	if len(errs) == 0 {
		for k, idx := range b.index {
			for _, i := range idx {
				copy(b.grads[i], b.flat[k][b.off[i]:])
			}
		}
	}
	clear(b.handles)
	b.handles = b.handles[:0]
	clear(b.ready)
	for k, idx := range b.index {
		b.missing[k] = len(idx)
	}
	b.next = 0
	return errors.Join(errs...)
}
