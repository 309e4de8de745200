package reduce

// The SIMD kernels are generated (see internal/asmgen, a module of its own):
//go:generate go run -C internal/asmgen . -out ../../kernels_amd64.s -stubs ../../kernels_amd64_stubs.go -pkg reduce
//go:generate go run -C internal/asmgen ./neon -out ../../kernels_arm64.s -stubs ../../kernels_arm64_stubs.go

import (
	"os"
	"strings"
)

// scalarKernels is the portable kernel table. Package variables are
// initialised before init functions run, so this copy keeps the portable
// kernels after an architecture's init has put SIMD kernels into kernels;
// the SIMD kernels use it for the elements past their last whole vector, and
// the tests compare against it.
var scalarKernels = kernels

// scalarFinishers is the portable table of Finish's divisions, kept as
// scalarKernels is.
var scalarFinishers = finishers

// simdFeatures names the instruction sets whose kernels init installed, ""
// if none.
var simdFeatures string

// SIMD returns the instruction sets whose kernels Apply uses, such as
// "avx2,f16c" or "neon", or "" when Apply runs only the portable Go
// kernels: on an architecture without SIMD kernels, on a CPU without the
// features they need, when built with the purego tag, or when the
// environment variable KIZUNA_SIMD was "off" (or "0", "false", "no") at
// start-up. Both paths give the same bits (except which NaN, where both
// operands are NaN); SIMD only changes speed.
func SIMD() string { return simdFeatures }

// simdDisabled reports whether KIZUNA_SIMD asks for the portable kernels.
func simdDisabled() bool {
	switch strings.ToLower(strings.TrimSpace(os.Getenv("KIZUNA_SIMD"))) {
	case "off", "0", "false", "no":
		return true
	}
	return false
}

// vectorized returns a kernel that runs asm on the whole 32-byte blocks of
// the buffers and the portable kernel tail on the rest. asm must accept any
// alignment and process exactly the len(dst) &^ 31 bytes it is given (the
// arm64 kernels work in 16-byte blocks, of which that is a multiple).
//
// The assembly cannot be preempted, so the bulk goes to it in pieces of at
// most asmPiece bytes: a goroutine combining a large buffer then holds up a
// garbage-collection pause by tens of microseconds at most, not for the whole
// buffer.
func vectorized(asm, tail kernel) kernel {
	return func(dst, src []byte) {
		n := len(dst) &^ 31
		for i := 0; i < n; i += asmPiece {
			j := min(i+asmPiece, n)
			asm(dst[i:j], src[i:j])
		}
		if n < len(dst) {
			tail(dst[n:], src[n:len(dst)])
		}
	}
}

// asmPiece is the most bytes one call of a SIMD kernel combines, a multiple
// of 32.
const asmPiece = 256 << 10

// vectorizedFinish returns a finisher that runs asm, which divides the whole
// 32-byte blocks of the buffer by q, on the bulk of buf with q = F(n) (the
// conversion the portable division makes), in pieces as vectorized does,
// and the portable finisher tail on the rest.
func vectorizedFinish[F float32 | float64](asm func(buf []byte, q F), tail finisher) finisher {
	return func(buf []byte, n int) {
		k := len(buf) &^ 31
		for i := 0; i < k; i += asmPiece {
			asm(buf[i:min(i+asmPiece, k)], F(n))
		}
		if k < len(buf) {
			tail(buf[k:], n)
		}
	}
}
