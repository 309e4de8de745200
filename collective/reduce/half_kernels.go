package reduce

import (
	"sync"
	"unsafe"

	"github.com/x448/float16"
)

// The Float16 and BFloat16 kernels widen each pair of elements to float32,
// combine them, and round the result back: one rounding per element per
// Apply. Min and Max round exactly, since the result is one of the operands
// (a NaN comes back quiet). Each loop is fused (widen, combine and round in
// one pass), about twice as fast for BFloat16 as widening whole stages into
// float32 arrays. Float16 is bound by x448/float16's rounding conversion,
// which does not inline; widening goes through a table (f16Table).

func f16Sum(dst, src []byte)   { halfApply(Sum, Float16, dst, src) }
func f16Prod(dst, src []byte)  { halfApply(Prod, Float16, dst, src) }
func f16Min(dst, src []byte)   { halfApply(Min, Float16, dst, src) }
func f16Max(dst, src []byte)   { halfApply(Max, Float16, dst, src) }
func bf16Sum(dst, src []byte)  { halfApply(Sum, BFloat16, dst, src) }
func bf16Prod(dst, src []byte) { halfApply(Prod, BFloat16, dst, src) }
func bf16Min(dst, src []byte)  { halfApply(Min, BFloat16, dst, src) }
func bf16Max(dst, src []byte)  { halfApply(Max, BFloat16, dst, src) }

func halfApply(op Op, dt DType, dst, src []byte) {
	if littleEndian && aligned2(dst) && aligned2(src) {
		n := len(dst) / 2
		halfLoop(op, dt, as16(dst, n), as16(src, n))
		return
	}
	// Misaligned buffers or a big-endian host.
	var a, b [stageLen]uint16
	for len(dst) > 0 {
		n := min(stageLen, len(dst)/2)
		load(a[:n], dst)
		load(b[:n], src)
		halfLoop(op, dt, a[:n], b[:n])
		store(dst, a[:n])
		dst, src = dst[2*n:], src[2*n:]
	}
}

// halfLoop sets d[i] = d[i] op s[i] for half-precision elements of type dt.
// It dispatches once and runs one of eight fused loops.
func halfLoop(op Op, dt DType, d, s []uint16) {
	s = s[:len(d)]
	if dt == Float16 {
		t := f16Table()
		switch op {
		case Sum, Avg:
			for i := range d {
				d[i] = uint16(Float16From(t[d[i]] + t[s[i]]))
			}
		case Prod:
			for i := range d {
				d[i] = uint16(Float16From(t[d[i]] * t[s[i]]))
			}
		case Min:
			for i := range d {
				d[i] = uint16(Float16From(min(t[d[i]], t[s[i]])))
			}
		case Max:
			for i := range d {
				d[i] = uint16(Float16From(max(t[d[i]], t[s[i]])))
			}
		}
		return
	}
	switch op {
	case Sum, Avg:
		for i := range d {
			d[i] = uint16(BFloat16From(BF16(d[i]).Float32() + BF16(s[i]).Float32()))
		}
	case Prod:
		for i := range d {
			d[i] = uint16(BFloat16From(BF16(d[i]).Float32() * BF16(s[i]).Float32()))
		}
	case Min:
		for i := range d {
			d[i] = uint16(BFloat16From(min(BF16(d[i]).Float32(), BF16(s[i]).Float32())))
		}
	case Max:
		for i := range d {
			d[i] = uint16(BFloat16From(max(BF16(d[i]).Float32(), BF16(s[i]).Float32())))
		}
	}
}

func finishHalf(dt DType, buf []byte, n int) {
	var a [stageLen]float32
	var sa [stageLen]uint16
	direct := littleEndian && aligned2(buf)
	for len(buf) > 0 {
		k := min(stageLen, len(buf)/2)
		var d []uint16
		if direct {
			d = as16(buf, k)
		} else {
			d = sa[:k]
			load(d, buf)
		}
		widen(dt, a[:k], d)
		divide(a[:k], n)
		narrow(dt, d, a[:k])
		if !direct {
			store(buf, d)
		}
		buf = buf[2*k:]
	}
}

func aligned2(b []byte) bool { return uintptr(unsafe.Pointer(unsafe.SliceData(b)))%2 == 0 }

// as16 views the first n 16-bit elements of b, which is 2-byte aligned.
func as16(b []byte, n int) []uint16 {
	return unsafe.Slice((*uint16)(unsafe.Pointer(unsafe.SliceData(b[:2*n]))), n)
}

// f16Table maps every binary16 bit pattern to its float32 value, as
// x448/float16 converts it; a lookup is several times faster than the
// conversion. It is built on first use (256 KiB).
var f16Table = sync.OnceValue(func() *[1 << 16]float32 {
	t := new([1 << 16]float32)
	for i := range t {
		t[i] = float16.Frombits(uint16(i)).Float32()
	}
	return t
})

// widen converts half-precision elements of type dt to float32; f and h have
// the same length.
func widen(dt DType, f []float32, h []uint16) {
	f = f[:len(h)]
	if dt == Float16 {
		t := f16Table()
		for i, v := range h {
			f[i] = t[v]
		}
		return
	}
	for i, v := range h {
		f[i] = BF16(v).Float32()
	}
}

// narrow rounds float32 values to half-precision elements of type dt; h and
// f have the same length.
func narrow(dt DType, h []uint16, f []float32) {
	h = h[:len(f)]
	if dt == Float16 {
		for i, v := range f {
			h[i] = uint16(Float16From(v))
		}
		return
	}
	for i, v := range f {
		h[i] = uint16(BFloat16From(v))
	}
}
