package reduce

import (
	"encoding/binary"
	"fmt"
	"unsafe"
)

// Apply combines src into dst element by element: dst[i] = dst[i] op src[i],
// with dst and src holding little-endian elements of type dt. Avg combines
// like Sum; call Finish once all contributions are in.
//
// Apply panics if op or dt is not Valid, if len(dst) != len(src), or if the
// length is not a multiple of dt.Size(): these are programming errors, so
// values read from the wire must be validated first. dst and src must be the
// same slice or not overlap at all. Apply does not retain dst or src and
// does not allocate, except that the first Float16 call in a process builds
// a 256 KiB conversion table. It may be called concurrently on disjoint dst
// buffers.
//
// Float16 and BFloat16 elements are widened to float32, combined, and rounded
// back once per call (see the package documentation).
func Apply(op Op, dt DType, dst, src []byte) {
	k := lookup(op, dt)
	if len(dst) != len(src) {
		panic(fmt.Sprintf("reduce: Apply %v %v: len(dst) = %d, len(src) = %d", op, dt, len(dst), len(src)))
	}
	if len(dst)%dtypeSizes[dt] != 0 {
		panic(fmt.Sprintf("reduce: Apply %v %v: length %d is not a multiple of %d", op, dt, len(dst), dtypeSizes[dt]))
	}
	if len(dst) == 0 {
		return
	}
	k(dst, src)
}

// Finish completes an Avg over n contributions that Apply has summed in buf:
// each element becomes x/n. Floating-point types divide (not multiply by
// 1/n), Float16 and BFloat16 in float32 with one rounding back; n converts
// exactly to float32 up to 2^24 contributions. Integer types divide
// truncating toward zero, as NCCL's ncclAvg does, so -7/2 is -3; a sum that
// wrapped gives a wrapped average. For every other op Finish does nothing.
//
// Finish panics if op or dt is not Valid, if len(buf) is not a multiple of
// dt.Size(), or if n < 1. It does not retain buf and, like Apply, does not
// allocate apart from the Float16 table.
func Finish(op Op, dt DType, buf []byte, n int) {
	lookup(op, dt)
	if len(buf)%dtypeSizes[dt] != 0 {
		panic(fmt.Sprintf("reduce: Finish %v %v: length %d is not a multiple of %d", op, dt, len(buf), dtypeSizes[dt]))
	}
	if n < 1 {
		panic(fmt.Sprintf("reduce: Finish %v %v: %d contributions", op, dt, n))
	}
	if op != Avg || len(buf) == 0 {
		return
	}
	finishers[dt](buf, n)
}

// finisher divides each element of buf, of any alignment, by n for Finish.
type finisher func(buf []byte, n int)

// finishers holds Finish's division for each DType. Like kernels, it may be
// changed only by an architecture's init, which may put SIMD versions in
// (scalarFinishers keeps the portable ones), and a replacement must give the
// same bits.
var finishers = [dtypeLimit]finisher{
	Float32:  finishNative[float32],
	Float64:  finishNative[float64],
	Float16:  func(buf []byte, n int) { finishHalf(Float16, buf, n) },
	BFloat16: func(buf []byte, n int) { finishHalf(BFloat16, buf, n) },
	Int8:     finishNative[int8],
	Uint8:    finishNative[uint8],
	Int32:    finishNative[int32],
	Int64:    finishNative[int64],
}

// kernel combines src into dst element by element. Apply calls it with
// len(dst) == len(src), a positive multiple of the element size; the slices
// may have any alignment and hold little-endian elements.
type kernel func(dst, src []byte)

// kernels holds the kernel for each (Op, DType); Apply looks one up per call,
// so the loop inside never dispatches. Avg shares Sum's kernels.
//
// This table is the seam for SIMD: kernels_amd64.go replaces entries from
// its init function with AVX2 and F16C kernels after checking CPU features
// (scalarKernels keeps the portable table). A replacement must honour the
// kernel contract above, including misaligned slices, and must give
// bit-identical results to the entry it replaces (any NaN for a NaN), which
// the tests check against the portable kernels and a naive reference.
// Nothing may change the table after init.
var kernels = [opLimit][dtypeLimit]kernel{
	Sum: {
		Float32: sumKernel[float32], Float64: sumKernel[float64],
		Float16: f16Sum, BFloat16: bf16Sum,
		Int8: sum8, Uint8: sum8, Int32: sumKernel[int32], Int64: sumKernel[int64],
	},
	Prod: {
		Float32: prodKernel[float32], Float64: prodKernel[float64],
		Float16: f16Prod, BFloat16: bf16Prod,
		Int8: prodKernel[int8], Uint8: prodKernel[uint8], Int32: prodKernel[int32], Int64: prodKernel[int64],
	},
	Min: {
		Float32: minKernel[float32], Float64: minKernel[float64],
		Float16: f16Min, BFloat16: bf16Min,
		Int8: minKernel[int8], Uint8: minKernel[uint8], Int32: minKernel[int32], Int64: minKernel[int64],
	},
	Max: {
		Float32: maxKernel[float32], Float64: maxKernel[float64],
		Float16: f16Max, BFloat16: bf16Max,
		Int8: maxKernel[int8], Uint8: maxKernel[uint8], Int32: maxKernel[int32], Int64: maxKernel[int64],
	},
	Avg: {
		Float32: sumKernel[float32], Float64: sumKernel[float64],
		Float16: f16Sum, BFloat16: bf16Sum,
		Int8: sum8, Uint8: sum8, Int32: sumKernel[int32], Int64: sumKernel[int64],
	},
}

// lookup returns the kernel for (op, dt), panicking if either is not Valid.
func lookup(op Op, dt DType) kernel {
	if !op.Valid() || !dt.Valid() {
		panic(fmt.Sprintf("reduce: invalid op %v or dtype %v", op, dt))
	}
	return kernels[op][dt]
}

// littleEndian reports whether the host stores integers little-endian, as the
// wire does, so that aligned buffers can be reinterpreted in place. It is a
// variable only so that tests can force the portable path.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// native is the set of element types that Go arithmetic handles directly.
type native interface {
	float32 | float64 | int8 | uint8 | int32 | int64
}

func sumKernel[T native](dst, src []byte) {
	if d, s, ok := view[T](dst, src); ok {
		sumLoop(d, s)
		return
	}
	staged[T](Sum, dst, src)
}

func prodKernel[T native](dst, src []byte) {
	if d, s, ok := view[T](dst, src); ok {
		prodLoop(d, s)
		return
	}
	staged[T](Prod, dst, src)
}

func minKernel[T native](dst, src []byte) {
	if d, s, ok := view[T](dst, src); ok {
		minLoop(d, s)
		return
	}
	staged[T](Min, dst, src)
}

func maxKernel[T native](dst, src []byte) {
	if d, s, ok := view[T](dst, src); ok {
		maxLoop(d, s)
		return
	}
	staged[T](Max, dst, src)
}

// sum8 adds bytes as eight lanes of a uint64 at a time (SWAR), about 2.5
// times as fast as the unrolled byte loop. Lanes are independent of byte
// order and the loads need no alignment, so it serves every host. Int8 and
// Uint8 share it: two's complement addition is the same bits either way.
func sum8(dst, src []byte) {
	const hi = 0x8080808080808080
	src = src[:len(dst)]
	i := 0
	for ; i <= len(dst)-8; i += 8 {
		a := binary.LittleEndian.Uint64(dst[i:])
		b := binary.LittleEndian.Uint64(src[i:])
		// Add the low seven bits of each lane, which cannot carry into the
		// next lane, then set each lane's top bit to a7 ^ b7 ^ carry.
		binary.LittleEndian.PutUint64(dst[i:], ((a&^hi)+(b&^hi))^((a^b)&hi))
	}
	for ; i < len(dst); i++ {
		dst[i] += src[i]
	}
}

// The loops below are unrolled by four: in BenchmarkApply that makes 8-bit
// Prod, Min and Max about 1.3 to 1.7 times and Int32 about 1.2 times as
// fast, leaves float32 and float64 unchanged, and unrolling by eight gains
// nothing more. Integer arithmetic wraps. The
// builtin min and max return NaN if either operand is NaN and order -0 below
// +0.

func sumLoop[T native](d, s []T) {
	s = s[:len(d)]
	i := 0
	for ; i <= len(d)-4; i += 4 {
		dd, ss := d[i:i+4:i+4], s[i:i+4:i+4]
		dd[0] += ss[0]
		dd[1] += ss[1]
		dd[2] += ss[2]
		dd[3] += ss[3]
	}
	for ; i < len(d); i++ {
		d[i] += s[i]
	}
}

func prodLoop[T native](d, s []T) {
	s = s[:len(d)]
	i := 0
	for ; i <= len(d)-4; i += 4 {
		dd, ss := d[i:i+4:i+4], s[i:i+4:i+4]
		dd[0] *= ss[0]
		dd[1] *= ss[1]
		dd[2] *= ss[2]
		dd[3] *= ss[3]
	}
	for ; i < len(d); i++ {
		d[i] *= s[i]
	}
}

func minLoop[T native](d, s []T) {
	s = s[:len(d)]
	i := 0
	for ; i <= len(d)-4; i += 4 {
		dd, ss := d[i:i+4:i+4], s[i:i+4:i+4]
		dd[0] = min(dd[0], ss[0])
		dd[1] = min(dd[1], ss[1])
		dd[2] = min(dd[2], ss[2])
		dd[3] = min(dd[3], ss[3])
	}
	for ; i < len(d); i++ {
		d[i] = min(d[i], s[i])
	}
}

func maxLoop[T native](d, s []T) {
	s = s[:len(d)]
	i := 0
	for ; i <= len(d)-4; i += 4 {
		dd, ss := d[i:i+4:i+4], s[i:i+4:i+4]
		dd[0] = max(dd[0], ss[0])
		dd[1] = max(dd[1], ss[1])
		dd[2] = max(dd[2], ss[2])
		dd[3] = max(dd[3], ss[3])
	}
	for ; i < len(d); i++ {
		d[i] = max(d[i], s[i])
	}
}

// combine runs op's loop. It dispatches per call, so the staged paths call it
// once per stage, never per element.
func combine[T native](op Op, d, s []T) {
	switch op {
	case Sum, Avg:
		sumLoop(d, s)
	case Prod:
		prodLoop(d, s)
	case Min:
		minLoop(d, s)
	case Max:
		maxLoop(d, s)
	}
}

// view reinterprets dst and src as []T in place when the host is
// little-endian and both are aligned for T.
func view[T native](dst, src []byte) (d, s []T, ok bool) {
	var z T
	pd, ps := unsafe.Pointer(unsafe.SliceData(dst)), unsafe.Pointer(unsafe.SliceData(src))
	if !littleEndian || (uintptr(pd)|uintptr(ps))%unsafe.Alignof(z) != 0 {
		return nil, nil, false
	}
	n := len(dst) / int(unsafe.Sizeof(z))
	return unsafe.Slice((*T)(pd), n), unsafe.Slice((*T)(ps), n), true
}

// stageLen is the number of elements the portable paths copy into aligned
// stack arrays at a time.
const stageLen = 256

// staged is the portable path of the native kernels, for misaligned buffers
// or a big-endian host: it decodes stageLen elements of each operand into
// aligned arrays, combines them, and encodes the result back.
func staged[T native](op Op, dst, src []byte) {
	var a, b [stageLen]T
	size := int(unsafe.Sizeof(a[0]))
	for len(dst) > 0 {
		n := min(stageLen, len(dst)/size)
		load(a[:n], dst)
		load(b[:n], src)
		combine(op, a[:n], b[:n])
		store(dst, a[:n])
		dst, src = dst[n*size:], src[n*size:]
	}
}

func finishNative[T native](buf []byte, n int) {
	if d, _, ok := view[T](buf, buf); ok {
		divide(d, n)
		return
	}
	var a [stageLen]T
	size := int(unsafe.Sizeof(a[0]))
	for len(buf) > 0 {
		k := min(stageLen, len(buf)/size)
		load(a[:k], buf)
		divide(a[:k], n)
		store(buf, a[:k])
		buf = buf[k*size:]
	}
}

// divide sets d[i] to d[i]/n: float division for floating-point T, integer
// division truncating toward zero (in int64, so that n need not fit in T)
// for integer T.
func divide[T native](d []T, n int) {
	var z T
	switch any(z).(type) {
	case float32, float64:
		q := T(n)
		for i := range d {
			d[i] /= q
		}
	default:
		q := int64(n)
		for i := range d {
			d[i] = T(int64(d[i]) / q)
		}
	}
}

// fixed is the set of element representations that load and store move:
// the native types and the bits of the half types.
type fixed interface {
	native | uint16
}

// load decodes len(d) little-endian elements from the front of b into d.
func load[T fixed](d []T, b []byte) {
	size := int(unsafe.Sizeof(d[0]))
	p := unsafe.Pointer(unsafe.SliceData(d))
	b = b[:len(d)*size]
	if littleEndian || size == 1 {
		copy(unsafe.Slice((*byte)(p), len(b)), b)
		return
	}
	switch size {
	case 2:
		u := unsafe.Slice((*uint16)(p), len(d))
		for i := range u {
			u[i] = binary.LittleEndian.Uint16(b[2*i:])
		}
	case 4:
		u := unsafe.Slice((*uint32)(p), len(d))
		for i := range u {
			u[i] = binary.LittleEndian.Uint32(b[4*i:])
		}
	case 8:
		u := unsafe.Slice((*uint64)(p), len(d))
		for i := range u {
			u[i] = binary.LittleEndian.Uint64(b[8*i:])
		}
	}
}

// store encodes d little-endian into the front of b.
func store[T fixed](b []byte, d []T) {
	size := int(unsafe.Sizeof(d[0]))
	p := unsafe.Pointer(unsafe.SliceData(d))
	b = b[:len(d)*size]
	if littleEndian || size == 1 {
		copy(b, unsafe.Slice((*byte)(p), len(b)))
		return
	}
	switch size {
	case 2:
		u := unsafe.Slice((*uint16)(p), len(d))
		for i, v := range u {
			binary.LittleEndian.PutUint16(b[2*i:], v)
		}
	case 4:
		u := unsafe.Slice((*uint32)(p), len(d))
		for i, v := range u {
			binary.LittleEndian.PutUint32(b[4*i:], v)
		}
	case 8:
		u := unsafe.Slice((*uint64)(p), len(d))
		for i, v := range u {
			binary.LittleEndian.PutUint64(b[8*i:], v)
		}
	}
}
