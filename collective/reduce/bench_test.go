package reduce

import (
	"fmt"
	"math"
	"testing"
	"time"
)

// benchSizes are the buffer sizes of the kernel benchmarks: 32 KiB and
// 256 KiB stay in cache (dst and src together fit L2), 8 MiB streams from
// memory or the last-level cache.
var benchSizes = []struct {
	name  string
	bytes int
}{{"4KiB", 4 << 10}, {"32KiB", 32 << 10}, {"256KiB", 256 << 10}, {"8MiB", 8 << 20}}

// BenchmarkCopy is the memory-bandwidth baseline for BenchmarkApply: the
// same bytes per second metric at the same sizes. Compare the SIMD kernels
// with the portable ones by running the benchmarks twice, once with
// KIZUNA_SIMD=off, and feeding both outputs to benchstat.
func BenchmarkCopy(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			dst, src := make([]byte, sz.bytes), make([]byte, sz.bytes)
			b.SetBytes(int64(sz.bytes))
			for b.Loop() {
				copy(dst, src)
			}
		})
	}
}

// BenchmarkApply reports bytes of dst combined per second.
func BenchmarkApply(b *testing.B) {
	for _, op := range allOps {
		for _, dt := range allDTypes {
			for _, sz := range benchSizes {
				b.Run(fmt.Sprintf("%v/%v/%s", op, dt, sz.name), func(b *testing.B) {
					benchApply(b, op, dt, sz.bytes, 0)
				})
			}
		}
	}
}

// BenchmarkApplyMisaligned measures the staged path taken when dst does not
// start on an element boundary of memory.
func BenchmarkApplyMisaligned(b *testing.B) {
	for _, dt := range []DType{Float32, Float64, Int32} {
		b.Run(fmt.Sprintf("sum/%v/1MiB", dt), func(b *testing.B) {
			benchApply(b, Sum, dt, 1<<20, 1)
		})
	}
}

func benchApply(b *testing.B, op Op, dt DType, n, off int) {
	dst, src := alignedCopy(make([]byte, n), off), alignedCopy(make([]byte, n), 0)
	// Fill keeps floats finite, so the loops do not run on Inf or NaN.
	Fill(dt, dst, 0, 1, op)
	Fill(dt, src, 1, 1, op)
	b.SetBytes(int64(n))
	for b.Loop() {
		Apply(op, dt, dst, src)
	}
}

func BenchmarkFinish(b *testing.B) {
	for _, dt := range allDTypes {
		b.Run(fmt.Sprintf("avg/%v/1MiB", dt), func(b *testing.B) {
			buf := make([]byte, 1<<20)
			Fill(dt, buf, 0, 1, Avg)
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				Finish(Avg, dt, buf, 3)
			}
		})
	}
}

// BenchmarkVsCopy reports Apply's throughput as a percentage of copy's
// (metric %copy) on the same buffers: every dtype at 32 KiB, and Float32 and
// Float64 also at 4 KiB and 256 KiB. It times batches of copy(dst, src) and
// of Apply(op, dt, dst, src) alternately and keeps each one's fastest batch,
// so that load from other processes, which slows both, mostly cancels out.
func BenchmarkVsCopy(b *testing.B) {
	for _, op := range []Op{Sum, Prod, Min, Max} {
		for _, dt := range allDTypes {
			for _, sz := range benchSizes[:3] {
				if sz.name != "32KiB" && dt != Float32 && dt != Float64 {
					continue
				}
				b.Run(fmt.Sprintf("%v/%v/%s", op, dt, sz.name), func(b *testing.B) {
					benchVsCopy(b, op, dt, sz.bytes)
				})
			}
		}
	}
}

func benchVsCopy(b *testing.B, op Op, dt DType, n int) {
	// A batch moves about 1 MiB, long enough for the clock's resolution.
	batch := max(4, (1<<20)/n)
	dst, src := alignedCopy(make([]byte, n), 0), alignedCopy(make([]byte, n), 0)
	// Fill keeps floats finite, and a batch of sums or products of its
	// values stays far from overflow and subnormals.
	Fill(dt, src, 1, 1, op)
	bestCopy, bestApply := time.Duration(math.MaxInt64), time.Duration(math.MaxInt64)
	b.SetBytes(2 * int64(batch) * int64(n))
	for b.Loop() {
		t0 := time.Now()
		for range batch {
			copy(dst, src)
		}
		t1 := time.Now()
		for range batch {
			Apply(op, dt, dst, src)
		}
		t2 := time.Now()
		bestCopy, bestApply = min(bestCopy, t1.Sub(t0)), min(bestApply, t2.Sub(t1))
	}
	b.ReportMetric(100*float64(bestCopy)/float64(bestApply), "%copy")
}
