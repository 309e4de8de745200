package reduce

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// Little-endian encoders for test values, independent of AsBytes.

func f32b(v ...float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func f64b(v ...float64) []byte {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
	}
	return b
}

func u16b(v ...uint16) []byte {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(b[2*i:], x)
	}
	return b
}

func i8b(v ...int8) []byte {
	b := make([]byte, len(v))
	for i, x := range v {
		b[i] = byte(x)
	}
	return b
}

func i32b(v ...int32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
	}
	return b
}

func i64b(v ...int64) []byte {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
	}
	return b
}

var (
	nan32  = float32(math.NaN())
	inf32  = float32(math.Inf(1))
	neg0f  = float32(math.Copysign(0, -1))
	nan64  = math.NaN()
	inf64  = math.Inf(1)
	neg0d  = math.Copysign(0, -1)
	minSub = math.Float32frombits(1)
)

// formatAll formats every element of buf, for failure messages.
func formatAll(dt DType, buf []byte) string {
	var parts []string
	for i := range len(buf) / dt.Size() {
		parts = append(parts, Format(dt, buf, i))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// TestApplyEdgeCases checks hand-computed results for the cases that
// implementations get wrong: NaN, ±Inf, -0, subnormals, rounding ties and
// integer wraparound.
func TestApplyEdgeCases(t *testing.T) {
	tests := []struct {
		name    string
		op      Op
		dt      DType
		a, b    []byte
		want    []byte
		wantNaN []int // indices where any NaN is right
	}{
		{"f32 sum", Sum, Float32,
			f32b(1, nan32, inf32, inf32, neg0f, neg0f, minSub, math.MaxFloat32, 0x1p-126),
			f32b(2, 1, 1, -inf32, neg0f, 0, minSub, math.MaxFloat32, -minSub),
			f32b(3, 0, inf32, 0, neg0f, 0, 2*minSub, inf32, 0x1p-126-minSub), []int{1, 3}},
		{"f32 avg sums", Avg, Float32, f32b(1.5, -1), f32b(2.25, neg0f), f32b(3.75, -1), nil},
		{"f32 prod", Prod, Float32,
			f32b(2, neg0f, inf32, 0x1p-100, -3, 0x1p-75, 0x1p-75),
			f32b(3, 5, 0, 0x1p-100, -0.5, 0x1p-75, 0x1.8p-75),
			// 2^-200 underflows; 2^-150 ties to 0; 0.75 * 2^-149 rounds up.
			f32b(6, neg0f, 0, 0, 1.5, 0, minSub), []int{2}},
		{"f32 min", Min, Float32,
			f32b(neg0f, 0, nan32, 1, -inf32, minSub, 0),
			f32b(0, neg0f, 1, nan32, 1, 0, 0),
			f32b(neg0f, neg0f, 0, 0, -inf32, 0, 0), []int{2, 3}},
		{"f32 max", Max, Float32,
			f32b(neg0f, 0, nan32, 1, -inf32, minSub, neg0f),
			f32b(0, neg0f, 1, nan32, 1, 0, neg0f),
			f32b(0, 0, 0, 0, 1, minSub, neg0f), []int{2, 3}},
		{"f64 sum", Sum, Float64,
			f64b(1e308, 1, neg0d, 0.1, -inf64), f64b(1e308, nan64, neg0d, 0.2, -inf64),
			f64b(inf64, 0, neg0d, 0.30000000000000004, -inf64), []int{1}},
		{"f64 prod", Prod, Float64, f64b(0x1p-1000, -2), f64b(0x1p-100, inf64), f64b(0, -inf64), nil},
		{"f64 min", Min, Float64, f64b(0, 2, nan64), f64b(neg0d, 1, 3), f64b(neg0d, 1, 0), []int{2}},
		{"f64 max", Max, Float64, f64b(0, 2, 3), f64b(neg0d, 1, nan64), f64b(0, 2, 0), []int{2}},
		{"f16 sum", Sum, Float16,
			u16b(0x6800, 0x6801, 0x7bff, 0x7bff, 0x0001, 0x03ff, 0x7e00, 0x3c00, 0x8000, 0x7c00),
			u16b(0x3c00, 0x3c00, 0x4c00, 0x4800, 0x0001, 0x0001, 0x3c00, 0xbc00, 0x8000, 0xfc00),
			// 2048+1 ties to 2048; 2050+1 ties to 2052; 65504+16 ties to Inf;
			// 65504+8 rounds to 65504; subnormals add exactly and carry into
			// the smallest normal; 1 + -1 = +0; -0 + -0 = -0; Inf - Inf = NaN.
			u16b(0x6800, 0x6802, 0x7c00, 0x7bff, 0x0002, 0x0400, 0, 0x0000, 0x8000, 0), []int{6, 9}},
		{"f16 prod", Prod, Float16,
			u16b(0x3c01, 0x3c01, 0x0400, 0x0001, 0x0001, 0x5c00, 0x5bff, 0x5bff),
			u16b(0x3c01, 0x3e00, 0x3800, 0x3800, 0x3e00, 0x5c00, 0x5c00, 0x5bff),
			// (1+2^-10)^2 rounds down; (1+2^-10)*1.5 ties to even (up);
			// 2^-14 * 0.5 is subnormal; 2^-24 * 0.5 ties to 0; 1.5 * 2^-24
			// ties to 2^-23; 256*256 overflows; 255.875*256 is the largest
			// finite value; 255.875^2 rounds to 65472.
			u16b(0x3c02, 0x3e02, 0x0200, 0x0000, 0x0002, 0x7c00, 0x7bff, 0x7bfe), nil},
		{"f16 min", Min, Float16,
			u16b(0x8000, 0x0000, 0x7e00, 0x3c00, 0x7c00, 0x0001, 0xfc00),
			u16b(0x0000, 0x8000, 0x3c00, 0x7e00, 0x7bff, 0x0000, 0xfbff),
			u16b(0x8000, 0x8000, 0, 0, 0x7bff, 0x0000, 0xfc00), []int{2, 3}},
		{"f16 max", Max, Float16,
			u16b(0x8000, 0x0000, 0x7e00, 0x3c00, 0x7c00, 0x0001, 0xfc00),
			u16b(0x0000, 0x8000, 0x3c00, 0x7e01, 0x7bff, 0x0000, 0xfbff),
			u16b(0x0000, 0x0000, 0, 0, 0x7c00, 0x0001, 0xfbff), []int{2, 3}},
		{"bf16 sum", Sum, BFloat16,
			u16b(0x4380, 0x4381, 0x7f7f, 0x7fc0, 0x0001, 0x8000, 0x3f80),
			u16b(0x3f80, 0x3f80, 0x7f7f, 0x3f80, 0x0001, 0x8000, 0x3b80),
			// 256+1 ties to 256; 258+1 ties to 260; max+max overflows; NaN
			// propagates; subnormals add; -0 + -0 = -0; 1 + 2^-8 ties to 1.
			u16b(0x4380, 0x4382, 0x7f80, 0, 0x0002, 0x8000, 0x3f80), []int{3}},
		{"bf16 prod", Prod, BFloat16,
			u16b(0x3f81, 0x3f81, 0x0080, 0xff80),
			u16b(0x3f81, 0x3fc0, 0x3f00, 0x0000),
			// (1+2^-7)^2 rounds down; (1+2^-7)*1.5 ties to even (up); the
			// smallest normal halves into a subnormal; -Inf * 0 = NaN.
			u16b(0x3f82, 0x3fc2, 0x0040, 0), []int{3}},
		{"bf16 min", Min, BFloat16, u16b(0x8000, 0x7fc0, 0xc000), u16b(0x0000, 0x3f80, 0xbf80), u16b(0x8000, 0, 0xc000), []int{1}},
		{"bf16 max", Max, BFloat16, u16b(0x8000, 0x3f80, 0xc000), u16b(0x0000, 0xffc0, 0xbf80), u16b(0x0000, 0, 0xbf80), []int{1}},
		{"int8 sum", Sum, Int8, i8b(127, -128, 100, -3), i8b(1, -1, 100, 3), i8b(-128, 127, -56, 0), nil},
		{"int8 avg sums", Avg, Int8, i8b(127, -7), i8b(1, 0), i8b(-128, -7), nil},
		{"int8 prod", Prod, Int8, i8b(16, -128, 3, -1), i8b(16, -1, -5, -1), i8b(0, -128, -15, 1), nil},
		{"int8 min", Min, Int8, i8b(-128, 127, 0), i8b(127, -128, -1), i8b(-128, -128, -1), nil},
		{"int8 max", Max, Int8, i8b(-128, 127, 0), i8b(127, -128, -1), i8b(127, 127, 0), nil},
		{"uint8 sum", Sum, Uint8, []byte{255, 128, 1}, []byte{1, 128, 2}, []byte{0, 0, 3}, nil},
		{"uint8 prod", Prod, Uint8, []byte{16, 255, 3}, []byte{17, 255, 5}, []byte{16, 1, 15}, nil},
		{"uint8 min", Min, Uint8, []byte{0, 255, 200}, []byte{255, 0, 100}, []byte{0, 0, 100}, nil},
		{"uint8 max", Max, Uint8, []byte{0, 255, 200}, []byte{255, 0, 100}, []byte{255, 255, 200}, nil},
		{"int32 sum", Sum, Int32, i32b(math.MaxInt32, math.MinInt32, -5), i32b(1, -1, 3), i32b(math.MinInt32, math.MaxInt32, -2), nil},
		{"int32 prod", Prod, Int32, i32b(65536, -1, math.MinInt32), i32b(65536, math.MinInt32, -1), i32b(0, math.MinInt32, math.MinInt32), nil},
		{"int32 min", Min, Int32, i32b(math.MinInt32, 5), i32b(math.MaxInt32, -5), i32b(math.MinInt32, -5), nil},
		{"int32 max", Max, Int32, i32b(math.MinInt32, 5), i32b(math.MaxInt32, -5), i32b(math.MaxInt32, 5), nil},
		{"int64 sum", Sum, Int64, i64b(math.MinInt64, math.MaxInt64, 1<<40), i64b(-1, 1, 1<<40), i64b(math.MaxInt64, math.MinInt64, 1<<41), nil},
		{"int64 prod", Prod, Int64, i64b(math.MaxInt64, 1<<32, -3), i64b(2, 1<<32, 7), i64b(-2, 0, -21), nil},
		{"int64 min", Min, Int64, i64b(math.MinInt64, 1<<40), i64b(math.MaxInt64, 1<<39), i64b(math.MinInt64, 1<<39), nil},
		{"int64 max", Max, Int64, i64b(math.MinInt64, 1<<40), i64b(math.MaxInt64, 1<<39), i64b(math.MaxInt64, 1<<40), nil},
	}
	for _, tt := range tests {
		for _, path := range testPaths {
			got := path.apply(tt.op, tt.dt, tt.a, tt.b)
			if msg := compareWant(tt.dt, got, tt.want, tt.wantNaN); msg != "" {
				t.Errorf("%s via %s: Apply(%v, %v, %s, %s) = %s; want %s (%s)", tt.name, path.name, tt.op, tt.dt,
					formatAll(tt.dt, tt.a), formatAll(tt.dt, tt.b), formatAll(tt.dt, got), formatAll(tt.dt, tt.want), msg)
			}
			// The oracle must agree too, or the random tests prove nothing.
			if msg := compareWant(tt.dt, naiveApply(tt.op, tt.dt, tt.a, tt.b), tt.want, tt.wantNaN); msg != "" && path.name == "aligned" {
				t.Errorf("%s: naiveApply disagrees with the hand-computed result: %s", tt.name, msg)
			}
		}
	}
}

// compareWant checks got against want bitwise, except that the elements
// listed in wantNaN must be a NaN (any NaN).
func compareWant(dt DType, got, want []byte, wantNaN []int) string {
	if len(got) != len(want) {
		return fmt.Sprintf("length %d, want %d", len(got), len(want))
	}
	size := dt.Size()
	nan := map[int]bool{}
	for _, i := range wantNaN {
		nan[i] = true
		if !isNaN(dt, got[i*size:(i+1)*size]) {
			return fmt.Sprintf("element %d = %s, want NaN", i, Format(dt, got, i))
		}
	}
	for i := range len(got) / size {
		if !nan[i] && string(got[i*size:(i+1)*size]) != string(want[i*size:(i+1)*size]) {
			return fmt.Sprintf("element %d = %s, want %s", i, Format(dt, got, i), Format(dt, want, i))
		}
	}
	return ""
}

// A testPath runs Apply on copies of its operands through one of the code
// paths: in place on aligned buffers, staged on misaligned ones, the
// encoding/binary path a big-endian host takes, and the portable kernels
// that stand in for SIMD ones (Apply itself runs the SIMD kernels where the
// CPU has them).
type testPath struct {
	name  string
	apply func(op Op, dt DType, a, b []byte) []byte
}

var testPaths = []testPath{
	{"aligned", func(op Op, dt DType, a, b []byte) []byte {
		dst, src := alignedCopy(a, 0), alignedCopy(b, 0)
		Apply(op, dt, dst, src)
		return dst
	}},
	{"misaligned dst", func(op Op, dt DType, a, b []byte) []byte {
		dst, src := alignedCopy(a, 1), alignedCopy(b, 0)
		Apply(op, dt, dst, src)
		return dst
	}},
	{"misaligned src", func(op Op, dt DType, a, b []byte) []byte {
		dst, src := alignedCopy(a, 0), alignedCopy(b, 3)
		Apply(op, dt, dst, src)
		return dst
	}},
	{"big-endian path", func(op Op, dt DType, a, b []byte) []byte {
		defer forcePortable()()
		dst, src := alignedCopy(a, 0), alignedCopy(b, 0)
		scalarKernels[op][dt](dst, src)
		return dst
	}},
	// The portable kernels, which Apply uses when SIMD is off and for the
	// elements past the last whole vector.
	{"portable aligned", func(op Op, dt DType, a, b []byte) []byte {
		dst, src := alignedCopy(a, 0), alignedCopy(b, 0)
		scalarKernels[op][dt](dst, src)
		return dst
	}},
	{"portable misaligned", func(op Op, dt DType, a, b []byte) []byte {
		dst, src := alignedCopy(a, 1), alignedCopy(b, 3)
		scalarKernels[op][dt](dst, src)
		return dst
	}},
}

// alignedCopy returns a copy of b that starts off bytes past an 8-byte
// boundary.
func alignedCopy(b []byte, off int) []byte {
	buf := make([]int64, (len(b)+off)/8+1)
	out := AsBytes(buf)[off : off+len(b)]
	copy(out, b)
	return out
}

// forcePortable makes the kernels take the path of a big-endian host (on a
// little-endian host its encoding/binary code gives the same results) until
// the returned function is called. Tests that use it must not run in
// parallel.
func forcePortable() (restore func()) {
	old := littleEndian
	littleEndian = false
	return func() { littleEndian = old }
}

// randomElements returns n random elements of dt: random bits, with one in
// four drawn from values that exercise special cases.
func randomElements(rng *rand.Rand, dt DType, n int) []byte {
	size := dt.Size()
	b := make([]byte, n*size)
	var specials []uint64
	switch dt {
	case Float32:
		specials = []uint64{0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 1, 0x807fffff, 0x7f7fffff, 0x3f800000, 0xbf800000, 0x00800000}
	case Float64:
		specials = []uint64{0, 1 << 63, 0x7ff0000000000000, 0xfff0000000000000, 0x7ff8000000000000, 1, 0x7fefffffffffffff, 0x3ff0000000000000}
	case Float16:
		specials = []uint64{0, 0x8000, 0x7c00, 0xfc00, 0x7e00, 0x0001, 0x03ff, 0x0400, 0x7bff, 0x3c00, 0x3c01, 0x6800, 0xbc00}
	case BFloat16:
		specials = []uint64{0, 0x8000, 0x7f80, 0xff80, 0x7fc0, 0x0001, 0x007f, 0x0080, 0x7f7f, 0x3f80, 0x3f81, 0x4380, 0xbf80}
	default:
		bits, _ := intInfo(dt)
		specials = []uint64{0, 1, 1<<bits - 1, 1 << (bits - 1), 1<<(bits-1) - 1, 2, 3}
	}
	for i := range n {
		v := rng.Uint64()
		if rng.IntN(4) == 0 {
			v = specials[rng.IntN(len(specials))]
		} else if isFloat(dt) && rng.IntN(2) == 0 {
			// Small exponents make sums and products round rather than
			// overflow; keep the sign and mantissa random.
			v = randomModerate(rng, dt)
		}
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], v)
		copy(b[i*size:], w[:size])
	}
	return b
}

// randomModerate returns the bits of a random value of moderate magnitude.
func randomModerate(rng *rand.Rand, dt DType) uint64 {
	x := math.Ldexp(rng.Float64()+0.5, rng.IntN(20)-10)
	if rng.IntN(2) == 0 {
		x = -x
	}
	e := make([]byte, 8)
	putFloat(dt, e, x)
	return binary.LittleEndian.Uint64(e)
}

// TestApplyRandom checks every (op, dtype) on random data, through every
// code path, against the naive oracle. 1037 elements cross several stages
// and leave a remainder for the unrolled loops.
func TestApplyRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, op := range allOps {
		for _, dt := range allDTypes {
			for range 4 {
				n := 1037 + rng.IntN(8)
				a, b := randomElements(rng, dt, n), randomElements(rng, dt, n)
				want := naiveApply(op, dt, a, b)
				for _, path := range testPaths {
					got := path.apply(op, dt, a, b)
					if i, ok := Equal(dt, got, want); !ok {
						t.Errorf("Apply(%v, %v) via %s: element %d = %s op %s = %s; want %s", op, dt, path.name, i,
							Format(dt, a, i), Format(dt, b, i), Format(dt, got, i), Format(dt, want, i))
						break
					}
				}
			}
		}
	}
}

// TestApplySameSlice checks dst and src being the same slice.
func TestApplySameSlice(t *testing.T) {
	buf := f32b(1, -2, 3, nan32, 5)
	Apply(Sum, Float32, buf, buf)
	if msg := compareWant(Float32, buf, f32b(2, -4, 6, 0, 10), []int{3}); msg != "" {
		t.Errorf("Apply(Sum, Float32, x, x) = %s; want [2 -4 6 NaN 10] (%s)", formatAll(Float32, buf), msg)
	}
}

// TestApplyEmpty checks that empty and nil buffers are fine.
func TestApplyEmpty(t *testing.T) {
	for _, op := range allOps {
		for _, dt := range allDTypes {
			Apply(op, dt, nil, nil)
			Apply(op, dt, []byte{}, nil)
			Finish(op, dt, nil, 3)
		}
	}
}

func TestApplyPanics(t *testing.T) {
	tests := []struct {
		name string
		f    func()
		want string
	}{
		{"short src", func() { Apply(Sum, Float32, make([]byte, 8), make([]byte, 4)) }, "len(dst) = 8, len(src) = 4"},
		{"long src", func() { Apply(Max, Int8, make([]byte, 1), make([]byte, 2)) }, "len(dst) = 1, len(src) = 2"},
		{"partial element", func() { Apply(Sum, Float32, make([]byte, 6), make([]byte, 6)) }, "length 6 is not a multiple of 4"},
		{"partial half", func() { Apply(Prod, BFloat16, make([]byte, 3), make([]byte, 3)) }, "not a multiple of 2"},
		{"op 0", func() { Apply(0, Float32, nil, nil) }, "invalid op"},
		{"op 6", func() { Apply(6, Float32, nil, nil) }, "invalid op"},
		{"dtype 0", func() { Apply(Sum, 0, nil, nil) }, "dtype DType(0)"},
		{"dtype 9", func() { Apply(Sum, 9, nil, nil) }, "dtype DType(9)"},
		{"Finish n 0", func() { Finish(Avg, Float32, make([]byte, 4), 0) }, "0 contributions"},
		{"Finish partial", func() { Finish(Avg, Int64, make([]byte, 12), 2) }, "not a multiple of 8"},
		{"Finish dtype", func() { Finish(Sum, 42, nil, 1) }, "invalid"},
		{"Reference lengths", func() { Reference(Sum, Int32, [][]byte{make([]byte, 4), make([]byte, 8)}) }, "len(dst) = 4, len(src) = 8"},
		{"Fill partial", func() { Fill(Float64, make([]byte, 9), 0, 0, Sum) }, "not a multiple of 8"},
		{"Fill op", func() { Fill(Float64, nil, 0, 0, 0) }, "invalid"},
		{"Equal dtype", func() { Equal(0, nil, nil) }, "invalid dtype"},
		{"Format dtype", func() { Format(10, nil, 0) }, "invalid dtype"},
	}
	for _, tt := range tests {
		got := catchPanic(tt.f)
		if !strings.Contains(got, tt.want) {
			t.Errorf("%s: panic %q; want one containing %q", tt.name, got, tt.want)
		}
	}
}

// catchPanic runs f and returns its panic value as text, or "no panic".
func catchPanic(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	f()
	return "no panic"
}

// TestApplyAllocs proves that Apply and Finish do not allocate, on every
// path.
func TestApplyAllocs(t *testing.T) {
	for _, off := range []int{0, 1} {
		for _, op := range allOps {
			for _, dt := range allDTypes {
				n := 777 * dt.Size()
				dst, src := alignedCopy(make([]byte, n), off), alignedCopy(make([]byte, n), 0)
				if got := testing.AllocsPerRun(10, func() { Apply(op, dt, dst, src) }); got != 0 {
					t.Errorf("Apply(%v, %v) with dst offset %d: %v allocations per run; want 0", op, dt, off, got)
				}
				if got := testing.AllocsPerRun(10, func() { Finish(op, dt, dst, 3) }); got != 0 {
					t.Errorf("Finish(%v, %v) with offset %d: %v allocations per run; want 0", op, dt, off, got)
				}
			}
		}
	}
}

func TestFinishEdgeCases(t *testing.T) {
	tests := []struct {
		name    string
		op      Op
		dt      DType
		in      []byte
		n       int
		want    []byte
		wantNaN []int
	}{
		{"f32", Avg, Float32, f32b(3, neg0f, nan32, inf32, 1, -7), 2, f32b(1.5, neg0f, 0, inf32, 0.5, -3.5), []int{2}},
		{"f32 thirds", Avg, Float32, f32b(1, 2), 3, f32b(float32(1.0/3), float32(2.0/3)), nil},
		{"f32 subnormal", Avg, Float32, f32b(3 * minSub), 2, f32b(2 * minSub), nil}, // 1.5 ties to even
		{"f64", Avg, Float64, f64b(1, -0x1p-1074), 3, f64b(1.0/3, neg0d), nil},
		{"f16", Avg, Float16, u16b(0x3c00, 0x0001, 0x0003, 0x7c00, 0xfe00), 2, u16b(0x3800, 0x0000, 0x0002, 0x7c00, 0), []int{4}},
		{"f16 thirds", Avg, Float16, u16b(0x3c00), 3, u16b(0x3555), nil},
		{"bf16", Avg, BFloat16, u16b(0x3f80, 0x0001, 0x8003), 3, u16b(0x3eab, 0x0000, 0x8001), nil},
		{"int8", Avg, Int8, i8b(-7, 7, -128, 127, -1, 1), 2, i8b(-3, 3, -64, 63, 0, 0), nil},
		{"int8 n above 127", Avg, Int8, i8b(-128, 127), 100, i8b(-1, 1), nil},
		{"int8 n above 255", Avg, Int8, i8b(-128, 127), 300, i8b(0, 0), nil},
		{"uint8", Avg, Uint8, []byte{255, 7, 1}, 2, []byte{127, 3, 0}, nil},
		{"uint8 n above 255", Avg, Uint8, []byte{255}, 200, []byte{1}, nil},
		{"int32", Avg, Int32, i32b(-7, math.MinInt32, math.MaxInt32), 2, i32b(-3, math.MinInt32/2, math.MaxInt32/2), nil},
		{"int64", Avg, Int64, i64b(-7, math.MinInt64, -1), 4, i64b(-1, math.MinInt64/4, 0), nil},
		{"n 1", Avg, Float32, f32b(1.25, neg0f), 1, f32b(1.25, neg0f), nil},
		{"sum is untouched", Sum, Float32, f32b(3, 5), 2, f32b(3, 5), nil},
		{"prod is untouched", Prod, Int8, i8b(-7), 2, i8b(-7), nil},
		{"min is untouched", Min, Float16, u16b(0x3c00), 4, u16b(0x3c00), nil},
		{"max is untouched", Max, Int64, i64b(9), 4, i64b(9), nil},
	}
	for _, tt := range tests {
		for _, off := range []int{0, 1} {
			got := alignedCopy(tt.in, off)
			Finish(tt.op, tt.dt, got, tt.n)
			if msg := compareWant(tt.dt, got, tt.want, tt.wantNaN); msg != "" {
				t.Errorf("%s: Finish(%v, %v, %s, %d) at offset %d = %s; want %s (%s)", tt.name, tt.op, tt.dt,
					formatAll(tt.dt, tt.in), tt.n, off, formatAll(tt.dt, got), formatAll(tt.dt, tt.want), msg)
			}
		}
		if msg := compareWant(tt.dt, naiveFinish(tt.op, tt.dt, tt.in, tt.n), tt.want, tt.wantNaN); msg != "" {
			t.Errorf("%s: naiveFinish disagrees with the hand-computed result: %s", tt.name, msg)
		}
	}
}

// TestFinishRandom checks Finish against the oracle on random data for
// every op, dtype and path.
func TestFinishRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, op := range allOps {
		for _, dt := range allDTypes {
			for _, n := range []int{1, 2, 3, 7, 64, 1000} {
				in := randomElements(rng, dt, 531)
				want := naiveFinish(op, dt, in, n)
				for _, portable := range []bool{false, true} {
					for _, off := range []int{0, 1} {
						got := alignedCopy(in, off)
						func() {
							if portable {
								defer forcePortable()()
							}
							Finish(op, dt, got, n)
						}()
						if i, ok := Equal(dt, got, want); !ok {
							t.Errorf("Finish(%v, %v, n=%d) portable=%v offset=%d: element %d: %s -> %s; want %s", op, dt, n, portable, off, i,
								Format(dt, in, i), Format(dt, got, i), Format(dt, want, i))
						}
					}
				}
			}
		}
	}
}
