package reduce

import (
	"encoding/binary"
	"math"
	"math/big"
	"sort"
)

// This file is the tests' independent oracle: it works one element at a time
// in float64 and math/big, decodes and rounds the half types with its own
// tables, and shares no code with the kernels.

// halfFormat describes a 16-bit float format for the oracle.
type halfFormat struct {
	expBits, manBits uint
	// values[k] is the value of the positive bits k for k in [0, inf]; the
	// entry for the Inf bits holds the value the next finite number would
	// have, the rounding boundary for overflow.
	values []float64
	inf    uint16
	qnan   uint16
}

func newHalfFormat(expBits, manBits uint) *halfFormat {
	bias := 1<<(expBits-1) - 1
	inf := uint16((1<<expBits - 1) << manBits)
	f := &halfFormat{expBits: expBits, manBits: manBits, inf: inf, qnan: inf | 1<<(manBits-1)}
	for k := 0; k <= int(inf); k++ {
		e := k >> manBits
		m := k & (1<<manBits - 1)
		if e == 0 {
			f.values = append(f.values, math.Ldexp(float64(m), 1-bias-int(manBits)))
		} else {
			f.values = append(f.values, math.Ldexp(float64(1<<manBits+m), e-bias-int(manBits)))
		}
	}
	return f
}

var (
	naiveF16  = newHalfFormat(5, 10)
	naiveBF16 = newHalfFormat(8, 7)
)

func (f *halfFormat) decode(b uint16) float64 {
	sign := 1.0
	if b&0x8000 != 0 {
		sign = -1
	}
	k := b & 0x7fff
	switch {
	case k > f.inf:
		return math.NaN()
	case k == f.inf:
		return math.Inf(int(sign))
	}
	return sign * f.values[k]
}

// round returns x rounded to nearest, ties to even, by searching the table.
func (f *halfFormat) round(x float64) uint16 {
	if math.IsNaN(x) {
		return f.qnan
	}
	var sign uint16
	if math.Signbit(x) {
		sign = 0x8000
	}
	a := math.Abs(x)
	if a >= f.values[f.inf] {
		return sign | f.inf
	}
	// values[k] <= a < values[k+1]
	k := sort.SearchFloat64s(f.values, a)
	if f.values[k] != a {
		k--
	}
	lo, hi := a-f.values[k], f.values[k+1]-a
	if hi < lo || (hi == lo && k%2 == 1) {
		k++
	}
	return sign | uint16(k)
}

// naiveFloat combines two float64 values with the package's semantics.
func naiveFloat(op Op, x, y float64) float64 {
	switch op {
	case Sum, Avg:
		return x + y
	case Prod:
		return x * y
	}
	if math.IsNaN(x) || math.IsNaN(y) {
		return math.NaN()
	}
	if x == y && x == 0 {
		neg := math.Signbit(x) || math.Signbit(y)
		if op == Max {
			neg = math.Signbit(x) && math.Signbit(y)
		}
		if neg {
			return math.Copysign(0, -1)
		}
		return 0
	}
	if (op == Min) == (x < y) {
		return x
	}
	return y
}

// naiveInt combines two integers of the given width, wrapping.
func naiveInt(op Op, x, y int64, bits uint, signed bool) int64 {
	bx, by := big.NewInt(x), big.NewInt(y)
	r := new(big.Int)
	switch op {
	case Sum, Avg:
		r.Add(bx, by)
	case Prod:
		r.Mul(bx, by)
	case Min:
		r.Set(bx)
		if by.Cmp(bx) < 0 {
			r.Set(by)
		}
	case Max:
		r.Set(bx)
		if by.Cmp(bx) > 0 {
			r.Set(by)
		}
	}
	return wrap(r, bits, signed)
}

// wrap reduces r modulo 2^bits into the type's range.
func wrap(r *big.Int, bits uint, signed bool) int64 {
	mod := new(big.Int).Lsh(big.NewInt(1), bits)
	r = new(big.Int).Mod(r, mod) // in [0, 2^bits)
	if signed && r.Cmp(new(big.Int).Rsh(mod, 1)) >= 0 {
		r.Sub(r, mod)
	}
	if r.IsInt64() {
		return r.Int64()
	}
	return int64(r.Uint64()) // uint64 values above MaxInt64 keep their bits
}

// intInfo gives the width and signedness of an integer dtype.
func intInfo(dt DType) (bits uint, signed bool) {
	switch dt {
	case Int8:
		return 8, true
	case Uint8:
		return 8, false
	case Int32:
		return 32, true
	}
	return 64, true
}

// getInt decodes an integer element; putIntNaive encodes one.
func getInt(dt DType, e []byte) int64 {
	switch dt {
	case Int8:
		return int64(int8(e[0]))
	case Uint8:
		return int64(e[0])
	case Int32:
		return int64(int32(binary.LittleEndian.Uint32(e)))
	}
	return int64(binary.LittleEndian.Uint64(e))
}

func putIntNaive(dt DType, e []byte, v int64) {
	switch dt {
	case Int8, Uint8:
		e[0] = byte(v)
	case Int32:
		binary.LittleEndian.PutUint32(e, uint32(v))
	default:
		binary.LittleEndian.PutUint64(e, uint64(v))
	}
}

// getFloat decodes a floating-point element exactly into a float64.
func getFloat(dt DType, e []byte) float64 {
	switch dt {
	case Float32:
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(e)))
	case Float64:
		return math.Float64frombits(binary.LittleEndian.Uint64(e))
	case Float16:
		return naiveF16.decode(binary.LittleEndian.Uint16(e))
	}
	return naiveBF16.decode(binary.LittleEndian.Uint16(e))
}

// putFloat rounds x to the element type. Every caller's x is either exact
// or correctly rounded in float64, and float64 has more than twice the
// precision plus two bits of every narrower type, so rounding again here
// gives the correctly rounded result.
func putFloat(dt DType, e []byte, x float64) {
	switch dt {
	case Float32:
		binary.LittleEndian.PutUint32(e, math.Float32bits(float32(x)))
	case Float64:
		binary.LittleEndian.PutUint64(e, math.Float64bits(x))
	case Float16:
		binary.LittleEndian.PutUint16(e, naiveF16.round(x))
	default:
		binary.LittleEndian.PutUint16(e, naiveBF16.round(x))
	}
}

func isFloat(dt DType) bool { return dt <= BFloat16 }

// naiveApply returns a op b element by element, in a new slice.
func naiveApply(op Op, dt DType, a, b []byte) []byte {
	size := dt.Size()
	out := make([]byte, len(a))
	for i := 0; i < len(a); i += size {
		x, y, e := a[i:i+size], b[i:i+size], out[i:i+size]
		if isFloat(dt) {
			putFloat(dt, e, naiveFloat(op, getFloat(dt, x), getFloat(dt, y)))
			continue
		}
		bits, signed := intInfo(dt)
		putIntNaive(dt, e, naiveInt(op, getInt(dt, x), getInt(dt, y), bits, signed))
	}
	return out
}

// naiveFinish returns buf after Avg's division by n, in a new slice.
func naiveFinish(op Op, dt DType, buf []byte, n int) []byte {
	out := append([]byte(nil), buf...)
	if op != Avg {
		return out
	}
	size := dt.Size()
	for i := 0; i < len(out); i += size {
		e := out[i : i+size]
		if isFloat(dt) {
			putFloat(dt, e, getFloat(dt, e)/float64(n))
			continue
		}
		bits, signed := intInfo(dt)
		q := new(big.Int).Quo(big.NewInt(getInt(dt, e)), big.NewInt(int64(n))) // truncates toward zero
		putIntNaive(dt, e, wrap(q, bits, signed))
	}
	return out
}
