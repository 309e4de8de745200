package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"unsafe"

	"github.com/kizuna-hpc/kizuna/collective"
	kzversion "github.com/kizuna-hpc/kizuna/internal/version"
)

// This file is the library's logic in plain Go (no cgo), so that its unit
// tests can run it directly; kizuna.go only converts C arguments and
// results.

// Sentinel errors of the library's own state checks; each becomes
// KZ_ERR_STATE.
var (
	errNotInit     = errors.New("libkizuna: kz_init has not been called")
	errFinalized   = errors.New("libkizuna: kz_finalize has been called; the library cannot be used again in this process")
	errAlreadyInit = errors.New("libkizuna: kz_init has already been called")
)

// phase is where the library is in its one-way life.
type phase int

const (
	phaseNew phase = iota
	phaseReady
	phaseFinalized
)

// lib is the process-wide library state. mu guards it; it is held during
// kz_init (so a call racing with kz_init waits for it) but never during an
// operation, so kz_finalize and kz_abort do not wait for one in flight.
var lib struct {
	mu    sync.Mutex
	phase phase
	comm  *collective.Comm
}

// initAbort lets kz_abort cancel a kz_init that is still connecting (a
// peer that never comes would otherwise hold it until KIZUNA_TIMEOUT). Its
// own mutex, not lib.mu, which kz_init holds, guards it.
var initAbort struct {
	mu     sync.Mutex
	cancel context.CancelFunc // non-nil while kz_init runs
}

// dtypes maps the C KZ_* dtype values (their index) to Kizuna's DType.
var dtypes = [...]collective.DType{
	collective.Float32, collective.Float64, collective.Float16, collective.BFloat16,
	collective.Int8, collective.Uint8, collective.Int32, collective.Int64,
}

// ops maps the C KZ_* op values (their index) to Kizuna's Op.
var ops = [...]collective.Op{collective.Sum, collective.Prod, collective.Min, collective.Max, collective.Avg}

// dtypeOf converts a C dtype argument.
func dtypeOf(v int) (collective.DType, error) {
	if v < 0 || v >= len(dtypes) {
		return 0, fmt.Errorf("%w: dtype %d is not one of KZ_FLOAT32 (0) .. KZ_INT64 (%d)", collective.ErrInvalid, v, len(dtypes)-1)
	}
	return dtypes[v], nil
}

// opOf converts a C op argument.
func opOf(v int) (collective.Op, error) {
	if v < 0 || v >= len(ops) {
		return 0, fmt.Errorf("%w: op %d is not one of KZ_SUM (0) .. KZ_AVG (%d)", collective.ErrInvalid, v, len(ops)-1)
	}
	return ops[v], nil
}

// region views count elements of dt at p as bytes, without copying. A NULL
// p is allowed only with count 0 (or when the callee ignores the buffer and
// nullOK is set). name says which argument is wrong in errors.
func region(p unsafe.Pointer, count uint64, dt collective.DType, name string, nullOK bool) ([]byte, error) {
	size := uint64(dt.Size())
	if size == 0 {
		return nil, fmt.Errorf("%w: unknown dtype %d", collective.ErrInvalid, dt)
	}
	if count > uint64(math.MaxInt)/size {
		return nil, fmt.Errorf("%w: %s: %d elements of %v do not fit in the address space", collective.ErrInvalid, name, count, dt)
	}
	if p == nil {
		if count == 0 || nullOK {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: %s is NULL with %d elements", collective.ErrInvalid, name, count)
	}
	return unsafe.Slice((*byte)(p), count*size), nil
}

// comm returns the communicator for an operation.
func comm() (*collective.Comm, error) {
	lib.mu.Lock()
	defer lib.mu.Unlock()
	switch lib.phase {
	case phaseNew:
		return nil, errNotInit
	case phaseFinalized:
		return nil, errFinalized
	}
	return lib.comm, nil
}

// initialize is kz_init: it connects this rank from the environment
// (collective.NewFromEnv), or, in a process that no launcher started,
// makes a job of one rank.
func initialize(ctx context.Context) error {
	lib.mu.Lock()
	defer lib.mu.Unlock()
	switch lib.phase {
	case phaseReady:
		return errAlreadyInit
	case phaseFinalized:
		return errFinalized
	}
	ctx, cancel := context.WithCancel(ctx)
	initAbort.mu.Lock()
	initAbort.cancel = cancel
	initAbort.mu.Unlock()
	defer func() {
		initAbort.mu.Lock()
		initAbort.cancel = nil
		initAbort.mu.Unlock()
		cancel()
	}()
	var c *collective.Comm
	var err error
	if collective.InLaunchedJob() {
		c, err = collective.NewFromEnv(ctx)
	} else {
		var cs []*collective.Comm
		if cs, err = collective.NewLocal(ctx, 1); err == nil {
			c = cs[0]
		}
	}
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return fmt.Errorf("%w: kz_abort during kz_init: %w", collective.ErrAborted, err)
		}
		return err
	}
	lib.comm, lib.phase = c, phaseReady
	return nil
}

// finalize is kz_finalize: it closes the communicator (failing any
// operation still in flight with ErrClosed) and ends the library's life.
func finalize() error {
	lib.mu.Lock()
	switch lib.phase {
	case phaseNew:
		lib.mu.Unlock()
		return errNotInit
	case phaseFinalized:
		lib.mu.Unlock()
		return errFinalized
	}
	c := lib.comm
	lib.comm, lib.phase = nil, phaseFinalized
	lib.mu.Unlock()
	return c.Close()
}

// abort is kz_abort. During kz_init it cancels the connecting, so that
// kz_init fails with ErrAborted (and may be called again).
func abort() error {
	initAbort.mu.Lock()
	cancel := initAbort.cancel
	initAbort.mu.Unlock()
	if cancel != nil {
		cancel()
		return nil
	}
	c, err := comm()
	if err != nil {
		return err
	}
	c.Abort()
	return nil
}

// rank and size are kz_rank and kz_size.
func rank() (int, error) {
	c, err := comm()
	if err != nil {
		return 0, err
	}
	return c.Rank(), nil
}

func size() (int, error) {
	c, err := comm()
	if err != nil {
		return 0, err
	}
	return c.Size(), nil
}

// The operations below take C arguments already converted to Go integers;
// each resolves the communicator, views the buffers in place and calls the
// raw collective.

func allReduce(ctx context.Context, send, recv unsafe.Pointer, count uint64, dtype, op int) error {
	c, dt, o, err := prepare(dtype, op)
	if err != nil {
		return err
	}
	r, err := region(recv, count, dt, "recv", false)
	if err != nil {
		return err
	}
	s := r
	if send != recv {
		if s, err = region(send, count, dt, "send", false); err != nil {
			return err
		}
	}
	return c.AllReduceBytes(ctx, s, r, dt, o)
}

func reduceTo(ctx context.Context, send, recv unsafe.Pointer, count uint64, dtype, op, root int) error {
	c, dt, o, err := prepare(dtype, op)
	if err != nil {
		return err
	}
	s, err := region(send, count, dt, "send", false)
	if err != nil {
		return err
	}
	// recv is used only at root; other ranks may pass NULL.
	r, err := region(recv, count, dt, "recv", root != c.Rank())
	if err != nil {
		return err
	}
	return c.ReduceBytes(ctx, s, r, dt, o, root)
}

func broadcast(ctx context.Context, buf unsafe.Pointer, count uint64, dtype, root int) error {
	c, dt, _, err := prepare(dtype, 0)
	if err != nil {
		return err
	}
	b, err := region(buf, count, dt, "buf", false)
	if err != nil {
		return err
	}
	return c.BroadcastBytes(ctx, b, b, dt, root)
}

func allGather(ctx context.Context, send, recv unsafe.Pointer, count uint64, dtype int) error {
	c, dt, _, err := prepare(dtype, 0)
	if err != nil {
		return err
	}
	total, err := times(count, c.Size(), "recv")
	if err != nil {
		return err
	}
	s, err := region(send, count, dt, "send", false)
	if err != nil {
		return err
	}
	r, err := region(recv, total, dt, "recv", false)
	if err != nil {
		return err
	}
	return c.AllGatherBytes(ctx, s, r, dt)
}

func reduceScatter(ctx context.Context, send, recv unsafe.Pointer, recvCount uint64, dtype, op int) error {
	c, dt, o, err := prepare(dtype, op)
	if err != nil {
		return err
	}
	total, err := times(recvCount, c.Size(), "send")
	if err != nil {
		return err
	}
	s, err := region(send, total, dt, "send", false)
	if err != nil {
		return err
	}
	r, err := region(recv, recvCount, dt, "recv", false)
	if err != nil {
		return err
	}
	return c.ReduceScatterBytes(ctx, s, r, dt, o)
}

func allToAll(ctx context.Context, send, recv unsafe.Pointer, count uint64, dtype int) error {
	c, dt, _, err := prepare(dtype, 0)
	if err != nil {
		return err
	}
	total, err := times(count, c.Size(), "send and recv")
	if err != nil {
		return err
	}
	r, err := region(recv, total, dt, "recv", false)
	if err != nil {
		return err
	}
	s := r
	if send != recv {
		if s, err = region(send, total, dt, "send", false); err != nil {
			return err
		}
	}
	return c.AllToAllBytes(ctx, s, r, dt)
}

func barrier(ctx context.Context) error {
	c, err := comm()
	if err != nil {
		return err
	}
	return c.Barrier(ctx)
}

func send(ctx context.Context, buf unsafe.Pointer, count uint64, dtype, peer int, tag uint32) error {
	c, dt, _, err := prepare(dtype, 0)
	if err != nil {
		return err
	}
	if err := checkTag(tag); err != nil {
		return err
	}
	b, err := region(buf, count, dt, "buf", false)
	if err != nil {
		return err
	}
	return c.SendBytes(ctx, b, dt, peer, tag)
}

func recv(ctx context.Context, buf unsafe.Pointer, count uint64, dtype, peer int, tag uint32) error {
	c, dt, _, err := prepare(dtype, 0)
	if err != nil {
		return err
	}
	if err := checkTag(tag); err != nil {
		return err
	}
	b, err := region(buf, count, dt, "buf", false)
	if err != nil {
		return err
	}
	return c.RecvBytes(ctx, b, dt, peer, tag)
}

// checkTag refuses the tags the runtime reserves for itself.
func checkTag(tag uint32) error {
	if tag >= collective.ReservedTags {
		return fmt.Errorf("%w: tag %#x is reserved for the runtime (want below %#x)", collective.ErrInvalid, tag, uint32(collective.ReservedTags))
	}
	return nil
}

// prepare resolves the communicator and converts dtype and op (callers
// without an op pass 0, KZ_SUM).
func prepare(dtype, op int) (*collective.Comm, collective.DType, collective.Op, error) {
	c, err := comm()
	if err != nil {
		return nil, 0, 0, err
	}
	dt, err := dtypeOf(dtype)
	if err != nil {
		return nil, 0, 0, err
	}
	o, err := opOf(op)
	if err != nil {
		return nil, 0, 0, err
	}
	return c, dt, o, nil
}

// times returns count*n, or an error naming the buffer when it overflows.
func times(count uint64, n int, name string) (uint64, error) {
	if n > 0 && count > math.MaxUint64/uint64(n) {
		return 0, fmt.Errorf("%w: %s: %d x %d elements overflow", collective.ErrInvalid, name, count, n)
	}
	return count * uint64(n), nil
}

// Result codes, equal to the KZ_* codes of libkizuna.h (kizuna.go checks at
// compile time that they agree).
const (
	codeSuccess  = 0
	codeInvalid  = -1
	codeState    = -2
	codeMismatch = -3
	codeTimeout  = -4
	codeAborted  = -5
	codeFailed   = -6
)

// classify maps an error to its result code, which names the cause. A
// communicator broken by a failure fails every later call with
// collective.ErrBroken wrapping that failure, so later calls get the same
// code as the call that failed (and a peer that learnt of a mismatch before
// it even entered the mismatched call gets KZ_ERR_MISMATCH too).
func classify(err error) int {
	switch {
	case err == nil:
		return codeSuccess
	case errors.Is(err, errNotInit), errors.Is(err, errFinalized), errors.Is(err, errAlreadyInit),
		errors.Is(err, collective.ErrClosed):
		return codeState
	case errors.Is(err, collective.ErrInvalid):
		return codeInvalid
	case errors.Is(err, collective.ErrMismatch):
		return codeMismatch
	case errors.Is(err, collective.ErrAborted):
		return codeAborted
	case errors.Is(err, context.DeadlineExceeded):
		return codeTimeout
	}
	return codeFailed
}

// version is kz_version's text: "kizuna " and the build's version
// (internal/version).
func version() string { return "kizuna " + kzversion.String() }
