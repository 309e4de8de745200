//go:build amd64 && !purego

package reduce

// init installs the AVX2 kernels and Finish's divisions (and the F16C ones
// for Float16) when the CPU and the operating system support them and
// KIZUNA_SIMD does not turn them off. Int8, Uint8 and Int64 Prod stay
// portable: AVX2 has no multiply for those element sizes.
func init() {
	if simdDisabled() {
		return
	}
	avx2, f16c := cpuFeatures()
	if !avx2 {
		return
	}
	simdFeatures = "avx2"
	set := func(op Op, dt DType, asm kernel) {
		kernels[op][dt] = vectorized(asm, scalarKernels[op][dt])
	}
	for _, op := range []Op{Sum, Avg} {
		set(op, Float32, sumF32)
		set(op, Float64, sumF64)
		set(op, BFloat16, sumBF16)
		set(op, Int8, sumI8)
		set(op, Uint8, sumI8)
		set(op, Int32, sumI32)
		set(op, Int64, sumI64)
	}
	set(Prod, Float32, prodF32)
	set(Prod, Float64, prodF64)
	set(Prod, BFloat16, prodBF16)
	set(Prod, Int32, prodI32)
	set(Min, Float32, minF32)
	set(Min, Float64, minF64)
	set(Min, BFloat16, minBF16)
	set(Min, Int8, minI8)
	set(Min, Uint8, minU8)
	set(Min, Int32, minI32)
	set(Min, Int64, minI64)
	set(Max, Float32, maxF32)
	set(Max, Float64, maxF64)
	set(Max, BFloat16, maxBF16)
	set(Max, Int8, maxI8)
	set(Max, Uint8, maxU8)
	set(Max, Int32, maxI32)
	set(Max, Int64, maxI64)
	finishers[Float32] = vectorizedFinish(divF32, scalarFinishers[Float32])
	finishers[Float64] = vectorizedFinish(divF64, scalarFinishers[Float64])
	finishers[BFloat16] = vectorizedFinish(divBF16, scalarFinishers[BFloat16])
	if f16c {
		simdFeatures += ",f16c"
		set(Sum, Float16, sumF16)
		set(Avg, Float16, sumF16)
		set(Prod, Float16, prodF16)
		set(Min, Float16, minF16)
		set(Max, Float16, maxF16)
		finishers[Float16] = vectorizedFinish(divF16, scalarFinishers[Float16])
	}
}

// cpuFeatures reports whether the CPU has AVX2 and F16C and the operating
// system saves the YMM registers, which both need.
func cpuFeatures() (avx2, f16c bool) {
	const (
		osxsave = 1 << 27 // CPUID.1:ECX
		avx     = 1 << 28 // CPUID.1:ECX
		f16cBit = 1 << 29 // CPUID.1:ECX
		avx2Bit = 1 << 5  // CPUID.(7,0):EBX
		xmmYmm  = 1<<1 | 1<<2
	)
	maxLeaf, _, _, _ := cpuid(0, 0)
	_, _, c1, _ := cpuid(1, 0)
	if c1&osxsave == 0 || c1&avx == 0 || xgetbv0()&xmmYmm != xmmYmm {
		return false, false
	}
	if maxLeaf >= 7 {
		_, b7, _, _ := cpuid(7, 0)
		avx2 = b7&avx2Bit != 0
	}
	return avx2, c1&f16cBit != 0
}
