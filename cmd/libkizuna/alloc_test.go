//go:build !race

package main

import (
	"context"
	"testing"
	"unsafe"
)

// TestNoAllocs: a successful call through the library costs no Go
// allocation of its own (a job of one rank, so that only the library's
// path is measured; the race detector, which allocates, is off).
func TestNoAllocs(t *testing.T) {
	reset(t)
	ctx := context.Background()
	if err := initialize(ctx); err != nil {
		t.Fatal(err)
	}
	buf := make([]float32, 4096)
	p := unsafe.Pointer(&buf[0])
	tests := []struct {
		name string
		call func() error
	}{
		{"allreduce", func() error { return allReduce(ctx, p, p, 4096, 0, 0) }},
		{"broadcast", func() error { return broadcast(ctx, p, 4096, 0, 0) }},
		{"allgather", func() error { return allGather(ctx, p, p, 4096, 0) }},
		{"barrier", func() error { return barrier(ctx) }},
	}
	for _, tt := range tests {
		var err error
		if n := testing.AllocsPerRun(50, func() { err = tt.call() }); n != 0 || err != nil {
			t.Errorf("%s: %v allocations per call, error %v; want 0, nil", tt.name, n, err)
		}
	}
}
