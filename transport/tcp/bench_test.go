package tcp

import (
	"fmt"
	"testing"

	"github.com/kizuna-hpc/kizuna/transport/transporttest"
)

var benchSizes = []int{8, 64 << 10, 4 << 20}

// BenchmarkPingPong measures loopback round trips for each implementation,
// sockets per peer and frame size:
//
//	go test -run '^$' -bench . -benchtime 2s ./transport/tcp/
func BenchmarkPingPong(b *testing.B) {
	for _, impl := range impls() {
		for _, sockets := range []int{1, 2, 4} {
			for _, n := range benchSizes {
				b.Run(fmt.Sprintf("%s/sockets=%d/%d", impl, sockets, n), func(b *testing.B) {
					eps := connect(b, 2, impl, sockets, "bench")
					transporttest.BenchPingPong(b, eps, n)
				})
			}
		}
	}
}

// BenchmarkStream measures one-way loopback throughput, as BenchmarkPingPong.
func BenchmarkStream(b *testing.B) {
	for _, impl := range impls() {
		for _, sockets := range []int{1, 2, 4} {
			for _, n := range benchSizes {
				b.Run(fmt.Sprintf("%s/sockets=%d/%d", impl, sockets, n), func(b *testing.B) {
					eps := connect(b, 2, impl, sockets, "bench")
					transporttest.BenchStream(b, eps, n)
				})
			}
		}
	}
}
