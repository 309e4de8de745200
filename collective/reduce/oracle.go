package reduce

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
)

// Reference is the sequential oracle for a reduction: it folds inputs left to
// right with Apply (inputs[0] op inputs[1], then op inputs[2], ...), then
// calls Finish with len(inputs). It returns a new slice, nil if inputs is
// empty, and does not modify or retain the inputs. Like Apply it panics if op
// or dt is not Valid or the inputs' lengths differ or are not a multiple of
// dt.Size().
func Reference(op Op, dt DType, inputs [][]byte) []byte {
	if len(inputs) == 0 {
		return nil
	}
	out := make([]byte, len(inputs[0]))
	copy(out, inputs[0])
	for _, in := range inputs[1:] {
		Apply(op, dt, out, in)
	}
	Finish(op, dt, out, len(inputs))
	return out
}

// Fill writes deterministic test data into buf: element i depends only on
// (dt, op, seed, rank, i). The values are chosen so that reducing the buffers
// of ranks 0 to 63 (any subset of them) gives exactly the same bits in every
// association and operand order, so the result of any algorithm can be
// compared bitwise with Reference:
//
//   - Sum and Avg: integers, in [-32, 32] for Float16 (partial sums stay
//     within ±2048, where Float16 holds every integer), [-4, 4] for BFloat16
//     (within ±256), [-2^16, 2^16] for Float32 and Int32 (within ±2^22),
//     [-2^40, 2^40] for Float64 and Int64 (within ±2^46), [-3, 3] for Int8
//     and [0, 3] for Uint8, whose sums may wrap, which is associative too.
//   - Prod: ±1, or ±2 at one rank in 16 (chosen per element), so that over
//     64 ranks |product| <= 16; Uint8 uses 1, 255, 2 and 254, whose products
//     wrap consistently.
//   - Min and Max: arbitrary finite values from random bits, subnormals and
//     ±0 included, NaN and ±Inf excluded; arbitrary integers.
//
// Fill panics if op or dt is not Valid or len(buf) is not a multiple of
// dt.Size(). It does not retain buf.
func Fill(dt DType, buf []byte, rank int, seed uint64, op Op) {
	lookup(op, dt)
	size := dtypeSizes[dt]
	if len(buf)%size != 0 {
		panic(fmt.Sprintf("reduce: Fill %v %v: length %d is not a multiple of %d", op, dt, len(buf), size))
	}
	base := mix(seed ^ mix(uint64(rank)+0x9e3779b97f4a7c15))
	for i := range len(buf) / size {
		h := mix(base + uint64(i))
		e := buf[i*size : (i+1)*size]
		switch op {
		case Sum, Avg:
			putSmallInt(dt, e, h)
		case Prod:
			v := int64(1)
			if h&1 != 0 {
				v = -1
			}
			// The rank that contributes a 2 depends on the element, not on h,
			// so that only one rank in 16 does.
			if (uint64(rank)+mix(seed^uint64(i)))%16 == 0 {
				v *= 2
			}
			putInt(dt, e, v)
		default:
			putRandom(dt, e, h)
		}
	}
}

// mix is the splitmix64 finaliser.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// putSmallInt stores an integer from h in the range Fill documents for Sum.
func putSmallInt(dt DType, e []byte, h uint64) {
	var lo, hi int64
	switch dt {
	case Float16:
		lo, hi = -32, 32
	case BFloat16:
		lo, hi = -4, 4
	case Float32, Int32:
		lo, hi = -1<<16, 1<<16
	case Float64, Int64:
		lo, hi = -1<<40, 1<<40
	case Int8:
		lo, hi = -3, 3
	case Uint8:
		lo, hi = 0, 3
	}
	putInt(dt, e, lo+int64(h%uint64(hi-lo+1)))
}

// putInt stores v, which the type represents exactly (integers wrap).
func putInt(dt DType, e []byte, v int64) {
	switch dt {
	case Float32:
		binary.LittleEndian.PutUint32(e, math.Float32bits(float32(v)))
	case Float64:
		binary.LittleEndian.PutUint64(e, math.Float64bits(float64(v)))
	case Float16:
		binary.LittleEndian.PutUint16(e, uint16(Float16From(float32(v))))
	case BFloat16:
		binary.LittleEndian.PutUint16(e, uint16(BFloat16From(float32(v))))
	case Int8, Uint8:
		e[0] = byte(v)
	case Int32:
		binary.LittleEndian.PutUint32(e, uint32(v))
	case Int64:
		binary.LittleEndian.PutUint64(e, uint64(v))
	}
}

// putRandom stores random bits from h, with a floating-point exponent that
// would make Inf or NaN cleared of its top bit.
func putRandom(dt DType, e []byte, h uint64) {
	switch dt {
	case Float32:
		u := uint32(h)
		if u&0x7f800000 == 0x7f800000 {
			u &^= 0x40000000
		}
		binary.LittleEndian.PutUint32(e, u)
	case Float64:
		if h&0x7ff0000000000000 == 0x7ff0000000000000 {
			h &^= 0x4000000000000000
		}
		binary.LittleEndian.PutUint64(e, h)
	case Float16:
		u := uint16(h)
		if u&0x7c00 == 0x7c00 {
			u &^= 0x4000
		}
		binary.LittleEndian.PutUint16(e, u)
	case BFloat16:
		u := uint16(h)
		if u&0x7f80 == 0x7f80 {
			u &^= 0x4000
		}
		binary.LittleEndian.PutUint16(e, u)
	default:
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], h)
		copy(e, w[:])
	}
}

// Equal compares a and b element by element as type dt. Elements are equal
// when their bits are, or when both are NaN (whatever their payloads); so
// -0 and +0 differ. It returns the index of the first element that differs,
// or where one buffer ends if the other is longer, and ok false; or -1 and
// ok true. It panics if dt is not Valid.
func Equal(dt DType, a, b []byte) (firstBad int, ok bool) {
	size := dt.Size()
	if size == 0 {
		panic(fmt.Sprintf("reduce: Equal: invalid dtype %v", dt))
	}
	n := min(len(a), len(b)) / size
	for i := range n {
		x, y := a[i*size:(i+1)*size], b[i*size:(i+1)*size]
		if !bytes.Equal(x, y) && !(isNaN(dt, x) && isNaN(dt, y)) {
			return i, false
		}
	}
	if len(a) != len(b) {
		return n, false
	}
	return -1, true
}

// isNaN reports whether the element e of type dt is a NaN.
func isNaN(dt DType, e []byte) bool {
	switch dt {
	case Float32:
		return binary.LittleEndian.Uint32(e)&0x7fffffff > 0x7f800000
	case Float64:
		return binary.LittleEndian.Uint64(e)&0x7fffffffffffffff > 0x7ff0000000000000
	case Float16:
		return binary.LittleEndian.Uint16(e)&0x7fff > 0x7c00
	case BFloat16:
		return binary.LittleEndian.Uint16(e)&0x7fff > 0x7f80
	}
	return false
}

// Format returns element i of buf, of type dt, as text for error messages:
// the shortest decimal that reads back to the value for floating-point types,
// with the bits of a NaN ("NaN(0x7e00)"). It panics if dt is not Valid and
// describes an index out of range rather than panicking.
func Format(dt DType, buf []byte, i int) string {
	size := dt.Size()
	if size == 0 {
		panic(fmt.Sprintf("reduce: Format: invalid dtype %v", dt))
	}
	if i < 0 || i >= len(buf)/size {
		return fmt.Sprintf("<index %d out of range [0, %d)>", i, len(buf)/size)
	}
	e := buf[i*size : (i+1)*size]
	if isNaN(dt, e) {
		var w [8]byte
		copy(w[:], e)
		return fmt.Sprintf("NaN(%#x)", binary.LittleEndian.Uint64(w[:]))
	}
	switch dt {
	case Float32:
		return strconv.FormatFloat(float64(math.Float32frombits(binary.LittleEndian.Uint32(e))), 'g', -1, 32)
	case Float64:
		return strconv.FormatFloat(math.Float64frombits(binary.LittleEndian.Uint64(e)), 'g', -1, 64)
	case Float16:
		return strconv.FormatFloat(float64(F16(binary.LittleEndian.Uint16(e)).Float32()), 'g', -1, 32)
	case BFloat16:
		return strconv.FormatFloat(float64(BF16(binary.LittleEndian.Uint16(e)).Float32()), 'g', -1, 32)
	case Int8:
		return strconv.Itoa(int(int8(e[0])))
	case Uint8:
		return strconv.Itoa(int(e[0]))
	case Int32:
		return strconv.Itoa(int(int32(binary.LittleEndian.Uint32(e))))
	default: // Int64
		return strconv.FormatInt(int64(binary.LittleEndian.Uint64(e)), 10)
	}
}
