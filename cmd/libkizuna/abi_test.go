package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
	"unsafe"

	"go.uber.org/goleak"

	"github.com/kizuna-hpc/kizuna/collective"
)

// These tests run the library's Go logic directly, as a job of one rank
// (go test is not a launched job). The C entry points, the header and
// multi-rank jobs are tested by test/libkizuna_test.go, which builds the
// shared library and runs a C program and a Python script under
// `kizuna run -np 3`.

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// reset puts the library back in its initial state now and after the test
// (tests only: a real process cannot initialise again after kz_finalize).
func reset(t *testing.T) {
	t.Helper()
	resetState()
	t.Cleanup(resetState)
}

func resetState() {
	lib.mu.Lock()
	c := lib.comm
	lib.comm, lib.phase = nil, phaseNew
	lib.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

func TestLifeCycle(t *testing.T) {
	reset(t)
	ctx := context.Background()
	buf := []float32{1, 2, 3}
	p := unsafe.Pointer(&buf[0])

	before := []struct {
		name string
		err  error
	}{
		{"finalize", finalize()},
		{"abort", abort()},
		{"barrier", barrier(ctx)},
		{"allreduce", allReduce(ctx, p, p, 3, 0, 0)},
	}
	for _, tt := range before {
		if !errors.Is(tt.err, errNotInit) || classify(tt.err) != codeState {
			t.Errorf("%s before init = %v (code %d); want errNotInit (code %d)", tt.name, tt.err, classify(tt.err), codeState)
		}
	}
	if _, err := rank(); !errors.Is(err, errNotInit) {
		t.Errorf("rank() before init: error %v; want errNotInit", err)
	}

	if err := initialize(ctx); err != nil {
		t.Fatalf("initialize() = %v; want nil", err)
	}
	if err := initialize(ctx); !errors.Is(err, errAlreadyInit) {
		t.Errorf("second initialize() = %v; want errAlreadyInit", err)
	}
	r, err1 := rank()
	n, err2 := size()
	if r != 0 || n != 1 || err1 != nil || err2 != nil {
		t.Errorf("rank(), size() = %d, %v, %d, %v; want 0, nil, 1, nil (a job of one rank outside a launcher)", r, err1, n, err2)
	}
	if err := allReduce(ctx, p, p, 3, 0, 3); err != nil { // KZ_FLOAT32, KZ_MAX
		t.Fatalf("allReduce(...) = %v; want nil", err)
	}
	if got, want := fmt.Sprint(buf), "[1 2 3]"; got != want {
		t.Errorf("allReduce on one rank = %v; want %v", got, want)
	}
	if err := finalize(); err != nil {
		t.Errorf("finalize() = %v; want nil", err)
	}

	after := []struct {
		name string
		err  error
	}{
		{"finalize", finalize()},
		{"initialize", initialize(ctx)},
		{"barrier", barrier(ctx)},
		{"allreduce", allReduce(ctx, p, p, 3, 0, 0)},
	}
	for _, tt := range after {
		if !errors.Is(tt.err, errFinalized) || classify(tt.err) != codeState {
			t.Errorf("%s after finalize = %v (code %d); want errFinalized (code %d)", tt.name, tt.err, classify(tt.err), codeState)
		}
	}
}

// TestAbort: after kz_abort every call fails with KZ_ERR_ABORTED, until
// kz_finalize.
func TestAbort(t *testing.T) {
	reset(t)
	ctx := context.Background()
	if err := initialize(ctx); err != nil {
		t.Fatal(err)
	}
	if err := abort(); err != nil {
		t.Fatalf("abort() = %v; want nil", err)
	}
	f := []float32{1}
	for range 2 {
		if err := allReduce(ctx, unsafe.Pointer(&f[0]), unsafe.Pointer(&f[0]), 1, 0, 0); classify(err) != codeAborted {
			t.Errorf("allReduce after abort = %v (code %d); want code %d", err, classify(err), codeAborted)
		}
	}
	if err := finalize(); err != nil {
		t.Errorf("finalize() after abort = %v; want nil", err)
	}
}

// TestAbortInit: kz_abort stops a kz_init that waits for a peer that
// never comes, and leaves the library as before kz_init.
func TestAbortInit(t *testing.T) {
	reset(t)
	// Rank 0 of 2: it serves the rendezvous store and waits for rank 1.
	t.Setenv("KIZUNA_RANK", "0")
	t.Setenv("KIZUNA_WORLD_SIZE", "2")
	t.Setenv("KIZUNA_MASTER_ADDR", "127.0.0.1:0")
	t.Setenv("KIZUNA_TIMEOUT", "60s")
	t.Setenv("KIZUNA_TOKEN", "libkizuna-test")
	done := make(chan error, 1)
	go func() { done <- initialize(context.Background()) }()
	// Wait until kz_init is under way (an abort before it starts would
	// abort nothing), then give it time to return too soon.
	for connecting := false; !connecting; {
		select {
		case err := <-done:
			t.Fatalf("initialize() = %v before rank 1 came", err)
		case <-time.After(time.Millisecond):
		}
		initAbort.mu.Lock()
		connecting = initAbort.cancel != nil
		initAbort.mu.Unlock()
	}
	select {
	case err := <-done:
		t.Fatalf("initialize() = %v before rank 1 came", err)
	case <-time.After(100 * time.Millisecond):
	}
	if err := abort(); err != nil {
		t.Fatalf("abort() during init = %v; want nil", err)
	}
	select {
	case err := <-done:
		if classify(err) != codeAborted {
			t.Errorf("initialize() after abort = %v (code %d); want code %d", err, classify(err), codeAborted)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("initialize() still waiting 20s after abort")
	}
	if _, err := rank(); !errors.Is(err, errNotInit) {
		t.Errorf("rank() after an aborted init: error %v; want errNotInit", err)
	}
}

// TestFinalizeDuringCall: kz_finalize does not wait for a call blocked in
// another thread, which then fails with KZ_ERR_STATE.
func TestFinalizeDuringCall(t *testing.T) {
	reset(t)
	ctx := context.Background()
	if err := initialize(ctx); err != nil {
		t.Fatal(err)
	}
	f := []float32{0}
	done := make(chan error, 1)
	go func() { done <- recv(ctx, unsafe.Pointer(&f[0]), 1, 0, 0, 9) }() // nothing is ever sent
	select {
	case err := <-done:
		t.Fatalf("recv returned %v before anything was sent", err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := finalize(); err != nil {
		t.Fatalf("finalize() = %v; want nil", err)
	}
	if err := <-done; classify(err) != codeState {
		t.Errorf("recv during finalize = %v (code %d); want code %d", err, classify(err), codeState)
	}
}

// TestInPlace: the operations work on the caller's memory: the result
// appears in the very buffer passed, and an out-of-place call leaves send
// alone.
func TestInPlace(t *testing.T) {
	reset(t)
	ctx := context.Background()
	if err := initialize(ctx); err != nil {
		t.Fatal(err)
	}
	send := []int64{5, -6, 7}
	recv := make([]int64, 3)
	if err := allReduce(ctx, unsafe.Pointer(&send[0]), unsafe.Pointer(&recv[0]), 3, 7, 4); err != nil { // KZ_INT64, KZ_AVG
		t.Fatal(err)
	}
	if fmt.Sprint(recv) != "[5 -6 7]" || fmt.Sprint(send) != "[5 -6 7]" {
		t.Errorf("allReduce out of place: send %v, recv %v; want [5 -6 7] both", send, recv)
	}
	all := []int32{-1, -1}
	all[0] = 42
	if err := allGather(ctx, unsafe.Pointer(&all[0]), unsafe.Pointer(&all[0]), 1, 6); err != nil { // in place
		t.Fatal(err)
	}
	if all[0] != 42 || all[1] != -1 {
		t.Errorf("allGather in place on one rank = %v; want [42 -1] (recv is one element)", all)
	}
	b := []uint8{9, 8}
	if err := broadcast(ctx, unsafe.Pointer(&b[0]), 2, 5, 0); err != nil {
		t.Fatal(err)
	}
	if err := barrier(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestInvalid(t *testing.T) {
	reset(t)
	ctx := context.Background()
	if err := initialize(ctx); err != nil {
		t.Fatal(err)
	}
	f := make([]float32, 8)
	p := unsafe.Pointer(&f[0])
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"bad dtype", allReduce(ctx, p, p, 8, 8, 0), "dtype 8"},
		{"negative dtype", allReduce(ctx, p, p, 8, -1, 0), "dtype -1"},
		{"bad op", allReduce(ctx, p, p, 8, 0, 5), "op 5"},
		{"NULL buffer", allReduce(ctx, nil, nil, 8, 0, 0), "recv is NULL"},
		{"NULL send", allReduce(ctx, nil, p, 8, 0, 0), "send is NULL"},
		{"too many elements", allReduce(ctx, p, p, math.MaxUint64/2, 1, 0), "address space"},
		{"overlap", allReduce(ctx, p, unsafe.Pointer(&f[2]), 6, 0, 0), "overlap"},
		{"root out of range", broadcast(ctx, p, 8, 0, 1), "root"},
		{"reduce NULL send", reduceTo(ctx, nil, p, 8, 0, 0, 0), "send is NULL"},
		{"reduce NULL recv at root", reduceTo(ctx, p, nil, 8, 0, 0, 0), "recv is NULL"},
		{"allgather overflow", allGather(ctx, p, p, math.MaxUint64, 0), "address space"},
		{"peer out of range", send(ctx, p, 8, 0, 3, 1), "3"},
		{"reserved tag", send(ctx, p, 8, 0, 0, collective.ReservedTags), "reserved"},
		{"reserved tag (recv)", recv(ctx, p, 8, 0, 0, collective.ReservedTags+5), "reserved"},
	}
	for _, tt := range tests {
		if classify(tt.err) != codeInvalid || !strings.Contains(fmt.Sprint(tt.err), tt.want) {
			t.Errorf("%s: error %v (code %d); want code %d and %q", tt.name, tt.err, classify(tt.err), codeInvalid, tt.want)
		}
	}
	// Local misuse leaves the library usable, and zero elements need no buffer.
	if err := allReduce(ctx, nil, nil, 0, 0, 0); err != nil {
		t.Errorf("allReduce(NULL, 0 elements) = %v; want nil", err)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, codeSuccess},
		{fmt.Errorf("x: %w", collective.ErrInvalid), codeInvalid},
		{errNotInit, codeState},
		{fmt.Errorf("op: %w", collective.ErrClosed), codeState},
		{&collective.MismatchError{Rank: 1, Call: "a", Other: 0, OtherCall: "b"}, codeMismatch},
		// A later call on a communicator broken by a mismatch names the cause.
		{fmt.Errorf("%w: %w", collective.ErrBroken, &collective.MismatchError{}), codeMismatch},
		{fmt.Errorf("%w: %w", collective.ErrBroken, collective.ErrAborted), codeAborted},
		{fmt.Errorf("op: %w", context.DeadlineExceeded), codeTimeout},
		{fmt.Errorf("%w: rank 2 lost", collective.ErrBroken), codeFailed},
		{errors.New("connection reset"), codeFailed},
	}
	for _, tt := range tests {
		if got := classify(tt.err); got != tt.want {
			t.Errorf("classify(%v) = %d; want %d", tt.err, got, tt.want)
		}
	}
}

func TestVersion(t *testing.T) {
	if v := version(); !strings.HasPrefix(v, "kizuna ") {
		t.Errorf("version() = %q; want \"kizuna ...\"", v)
	}
}
