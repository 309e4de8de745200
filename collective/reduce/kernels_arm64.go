//go:build arm64 && !purego

package reduce

// init installs the NEON kernels and Finish's divisions for Float32 and
// Float64, which every arm64 CPU can run (Advanced SIMD is part of
// ARMv8-A), unless KIZUNA_SIMD turns them off. Float16 converts with FCVTL
// and FCVTN, BFloat16 with shifts. Prod for Int8, Uint8 and Int64 stays
// portable.
func init() {
	if simdDisabled() {
		return
	}
	simdFeatures = "neon"
	set := func(op Op, dt DType, asm kernel) {
		kernels[op][dt] = vectorized(asm, scalarKernels[op][dt])
	}
	for _, op := range []Op{Sum, Avg} {
		set(op, Float32, sumF32)
		set(op, Float64, sumF64)
		set(op, Int8, sumI8)
		set(op, Uint8, sumI8)
		set(op, Int32, sumI32)
		set(op, Int64, sumI64)
	}
	set(Prod, Float32, prodF32)
	set(Prod, Float64, prodF64)
	set(Prod, Int32, prodI32)
	set(Min, Float32, minF32)
	set(Min, Float64, minF64)
	set(Min, Int8, minI8)
	set(Min, Uint8, minU8)
	set(Min, Int32, minI32)
	set(Max, Float32, maxF32)
	set(Max, Float64, maxF64)
	set(Max, Int8, maxI8)
	set(Max, Uint8, maxU8)
	set(Max, Int32, maxI32)
	for _, op := range []Op{Sum, Avg} {
		set(op, Float16, sumF16)
		set(op, BFloat16, sumBF16)
	}
	set(Prod, Float16, prodF16)
	set(Min, Float16, minF16)
	set(Max, Float16, maxF16)
	set(Prod, BFloat16, prodBF16)
	set(Min, BFloat16, minBF16)
	set(Max, BFloat16, maxBF16)
	set(Min, Int64, minI64)
	set(Max, Int64, maxI64)
	finishers[Float32] = vectorizedFinish(divF32, scalarFinishers[Float32])
	finishers[Float64] = vectorizedFinish(divF64, scalarFinishers[Float64])
}
