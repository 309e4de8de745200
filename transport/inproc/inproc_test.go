package inproc

import (
	"fmt"
	"testing"

	"github.com/kizuna-hpc/kizuna/transport"
	"github.com/kizuna-hpc/kizuna/transport/transporttest"
)

func newFabric(t *testing.T, size int) []transport.Endpoint {
	f := NewFabric(size)
	t.Cleanup(func() { _ = f.Close() })
	eps := make([]transport.Endpoint, size)
	for i := range eps {
		eps[i] = f.Endpoint(i)
	}
	return eps
}

func TestConformance(t *testing.T) {
	transporttest.Run(t, newFabric)
}

func TestEndpointIdentity(t *testing.T) {
	f := NewFabric(2)
	defer f.Close()
	if f.Endpoint(1) != f.Endpoint(1) {
		t.Fatal("Endpoint(1) returned different endpoints")
	}
	if got := f.Endpoint(0).Name(); got != "inproc" {
		t.Fatalf("Name() = %q; want inproc", got)
	}
}

var benchSizes = []int{8, 64 << 10, 4 << 20}

// BenchmarkPingPong: rank 0 sends size bytes to rank 1, which sends them
// back; one op is one round trip.
func BenchmarkPingPong(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			eps := newFabricB(b, 2)
			transporttest.BenchPingPong(b, eps, n)
		})
	}
}

// BenchmarkStream: rank 0 sends size-byte frames to rank 1 as fast as it
// can, with up to 8 receives posted ahead.
func BenchmarkStream(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			eps := newFabricB(b, 2)
			transporttest.BenchStream(b, eps, n)
		})
	}
}

func newFabricB(b *testing.B, size int) []transport.Endpoint {
	f := NewFabric(size)
	b.Cleanup(func() { _ = f.Close() })
	eps := make([]transport.Endpoint, size)
	for i := range eps {
		eps[i] = f.Endpoint(i)
	}
	return eps
}
