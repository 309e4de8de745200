package ntstore

import (
	"bytes"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestCopy: Copy writes exactly dst[:len(src)] = src whatever the
// alignment of either side and the length (the non-temporal body, the
// ordinary head and tail), and nothing around it.
func TestCopy(t *testing.T) {
	src := make([]byte, 70<<10)
	for i := range src {
		src[i] = byte(i*7 + i>>8)
	}
	buf := make([]byte, 72<<10)
	for _, n := range []int{0, 1, 63, 64, 65, 127, 128, 4095, 16 << 10, 16<<10 + 17, 64 << 10} {
		for _, doff := range []int{0, 1, 15, 16, 33, 63} {
			for _, soff := range []int{0, 5, 64} {
				for i := range buf {
					buf[i] = 0xAA
				}
				dst := buf[doff : doff+n]
				Copy(dst, src[soff:soff+n])
				if !bytes.Equal(dst, src[soff:soff+n]) {
					t.Fatalf("n=%d dst+%d src+%d: copy differs", n, doff, soff)
				}
				for i, b := range buf {
					if (i < doff || i >= doff+n) && b != 0xAA {
						t.Fatalf("n=%d dst+%d src+%d: wrote byte %d outside dst", n, doff, soff, i)
					}
				}
			}
		}
	}
}

// BenchmarkCopy: 64 KiB pieces into a 1 MiB ring on one thread, with
// ordinary stores and with Copy. Across processors, where the difference
// lies, see `go run ./bench/cmd/distance`.
func BenchmarkCopy(b *testing.B) {
	const piece = 64 << 10
	ring, src := make([]byte, 1<<20), make([]byte, piece)
	for _, tt := range []struct {
		name string
		f    func(dst, src []byte)
	}{{"cached", func(d, s []byte) { copy(d, s) }}, {"nt", Copy}} {
		b.Run(tt.name, func(b *testing.B) {
			b.SetBytes(piece)
			off := 0
			for b.Loop() {
				tt.f(ring[off:off+piece], src)
				off = (off + piece) % len(ring)
			}
		})
	}
}
