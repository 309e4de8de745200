package reduce

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// simdSpecials are element bits that SIMD kernels are most likely to get
// wrong: signed zeros, infinities, NaNs with different signs, payloads and
// quiet bits (so that which NaN comes back is checked too), subnormals,
// extremes, and values whose sum or product rounds to a tie in the half
// types.
func simdSpecials(dt DType) []uint64 {
	switch dt {
	case Float32:
		return []uint64{0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7f800001, 0xff812345,
			0x7fffffff, 0x7fc12345, 1, 0x80000001, 0x807fffff, 0x00800000, 0x7f7fffff, 0xff7fffff, 0x3f800000,
			0xbf800000, 0x3f800001, 0x33800000}
	case Float64:
		return []uint64{0, 1 << 63, 0x7ff0000000000000, 0xfff0000000000000, 0x7ff8000000000000,
			0xfff8000000000000, 0x7ff0000000000001, 0xfff0000012345678, 0x7ff8123456789abc, 1, 1<<63 | 1,
			0x000fffffffffffff, 0x7fefffffffffffff, 0xffefffffffffffff, 0x3ff0000000000000, 0xbff0000000000000,
			0x3ff0000000000001, 0x3ca0000000000000}
	case Float16:
		return []uint64{0, 0x8000, 0x7c00, 0xfc00, 0x7e00, 0xfe00, 0x7c01, 0xfd23, 0x7fff, 0x0001, 0x8001,
			0x03ff, 0x0400, 0x7bff, 0xfbff, 0x3c00, 0x3c01, 0xbc00, 0x1400, 0x6800}
	case BFloat16:
		return []uint64{0, 0x8000, 0x7f80, 0xff80, 0x7fc0, 0xffc0, 0x7f81, 0xffa5, 0x7fff, 0x0001, 0x8001,
			0x007f, 0x0080, 0x7f7f, 0xff7f, 0x3f80, 0x3f81, 0xbf80, 0x3b80, 0x4380}
	}
	bits, _ := intInfo(dt)
	return []uint64{0, 1, 1<<bits - 1, 1 << (bits - 1), 1<<(bits-1) - 1, 2, 3}
}

// simdElements returns n elements of dt for comparing kernels: random bits,
// random moderate values, and one in three from simdSpecials.
func simdElements(rng *rand.Rand, dt DType, n int) []byte {
	size := dt.Size()
	specials := simdSpecials(dt)
	b := make([]byte, n*size)
	for i := range n {
		v := rng.Uint64()
		switch {
		case rng.IntN(3) == 0:
			v = specials[rng.IntN(len(specials))]
		case isFloat(dt) && rng.IntN(2) == 0:
			v = randomModerate(rng, dt)
		}
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], v)
		copy(b[i*size:], w[:size])
	}
	return b
}

// simdLengths are the element counts TestSIMDMatchesPortable tries: every
// count up to 300, which covers every tail length of every vector width and
// unrolling, and a few large ones, the last above asmPiece bytes for the
// 4- and 8-byte types (TestSIMDPieces covers the others).
func simdLengths() []int {
	var ns []int
	for n := range 301 {
		ns = append(ns, n)
	}
	return append(ns, 1023, 4099, 1<<16+7)
}

// TestSIMDMatchesPortable checks that Apply, which runs the SIMD kernels
// where the CPU has them, gives exactly the bits of the portable kernels for
// every op and dtype, every length up to 300 and some large ones, at several
// alignments, NaN payloads included, except that where both operands are
// NaN any NaN will do: which one the portable loop returns depends on how
// the compiler ordered its operands (it differs under -race), and the
// package leaves it unspecified. Where no SIMD kernel is installed this
// compares the portable kernels with themselves through Apply.
func TestSIMDMatchesPortable(t *testing.T) {
	t.Logf("SIMD() = %q on %s", SIMD(), runtime.GOARCH)
	rng := rand.New(rand.NewPCG(7, 11))
	offsets := []struct{ dst, src int }{{0, 0}, {1, 3}, {4, 0}, {2, 6}}
	for _, op := range allOps {
		for _, dt := range allDTypes {
			for _, n := range simdLengths() {
				off := offsets[n%len(offsets)]
				a, b := simdElements(rng, dt, n), simdElements(rng, dt, n)
				got, src := alignedCopy(a, off.dst), alignedCopy(b, off.src)
				Apply(op, dt, got, src)
				want := alignedCopy(a, 0)
				if n > 0 {
					scalarKernels[op][dt](want, alignedCopy(b, 0))
				}
				if i := simdMismatch(dt, a, b, got, want); i >= 0 {
					t.Fatalf("Apply(%v, %v) of %d elements (offsets %d, %d): element %d = %s op %s = %s (%#x); want %s (%#x)",
						op, dt, n, off.dst, off.src, i, Format(dt, a, i), Format(dt, b, i),
						Format(dt, got, i), elemBits(dt, got, i), Format(dt, want, i), elemBits(dt, want, i))
				}
				if !bytes.Equal(src, b) {
					t.Fatalf("Apply(%v, %v) of %d elements modified src", op, dt, n)
				}
			}
		}
	}
}

// TestSIMDSameSlice checks Apply(op, dt, x, x), which the contract allows,
// over whole vectors and a tail.
func TestSIMDSameSlice(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, op := range allOps {
		for _, dt := range allDTypes {
			a := simdElements(rng, dt, 203)
			got := alignedCopy(a, 0)
			Apply(op, dt, got, got)
			want := alignedCopy(a, 0)
			scalarKernels[op][dt](want, alignedCopy(a, 0))
			if i := simdMismatch(dt, a, a, got, want); i >= 0 {
				t.Errorf("Apply(%v, %v, x, x): element %d = %s op itself = %s; want %s", op, dt, i,
					Format(dt, a, i), Format(dt, got, i), Format(dt, want, i))
			}
		}
	}
}

// TestSIMDPieces checks buffers that Apply hands to the assembly in several
// pieces, for the 1- and 2-byte types.
func TestSIMDPieces(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 1))
	for _, dt := range []DType{Int8, Uint8, Float16, BFloat16} {
		for _, op := range []Op{Sum, Max} {
			n := 2*asmPiece/dt.Size() + 37
			a, b := simdElements(rng, dt, n), simdElements(rng, dt, n)
			got := alignedCopy(a, 1)
			Apply(op, dt, got, b)
			want := alignedCopy(a, 0)
			scalarKernels[op][dt](want, b)
			if i := simdMismatch(dt, a, b, got, want); i >= 0 {
				t.Errorf("Apply(%v, %v) of %d elements: element %d = %s op %s = %s; want %s", op, dt, n, i,
					Format(dt, a, i), Format(dt, b, i), Format(dt, got, i), Format(dt, want, i))
			}
		}
	}
}

// TestSIMDFinishMatchesPortable checks Finish's Avg division, which has
// SIMD versions for the floating-point types, against the portable one:
// every length up to 300 and some large ones, several alignments and
// contribution counts, exact bits (a NaN must stay a NaN, any NaN).
func TestSIMDFinishMatchesPortable(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 2))
	counts := []int{1, 2, 3, 7, 10, 1000, 1<<24 + 1}
	for _, dt := range allDTypes {
		for _, n := range simdLengths() {
			a := simdElements(rng, dt, n)
			p := counts[n%len(counts)]
			got := alignedCopy(a, n%5)
			Finish(Avg, dt, got, p)
			want := alignedCopy(a, 0)
			if n > 0 {
				scalarFinishers[dt](want, p)
			}
			if i := simdMismatch(dt, a, a, got, want); i >= 0 {
				t.Fatalf("Finish(Avg, %v, %d elements, %d) = %s (%#x) at element %d from %s; want %s (%#x)", dt, n, p,
					Format(dt, got, i), elemBits(dt, got, i), i, Format(dt, a, i), Format(dt, want, i), elemBits(dt, want, i))
			}
		}
	}
}

// TestSIMDAgainstOracle checks the kernels Apply uses against the naive
// oracle over every short length, where the vector loops hand over to the
// portable tail.
func TestSIMDAgainstOracle(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 8))
	for _, op := range allOps {
		for _, dt := range allDTypes {
			for n := range 70 {
				a, b := simdElements(rng, dt, n), simdElements(rng, dt, n)
				got := alignedCopy(a, n%3)
				Apply(op, dt, got, b)
				want := naiveApply(op, dt, a, b)
				if i, ok := Equal(dt, got, want); !ok {
					t.Fatalf("Apply(%v, %v) of %d elements: element %d = %s op %s = %s; want %s", op, dt, n, i,
						Format(dt, a, i), Format(dt, b, i), Format(dt, got, i), Format(dt, want, i))
				}
			}
		}
	}
}

// TestSIMDMinMaxSpecials pins down, lane by lane, what Min and Max return for
// signed zeros and NaNs, in every position of a vector and in the tail: -0
// is below +0 in either order, and a NaN in either operand gives a NaN.
// (Which NaN is not specified; TestSIMDMatchesPortable checks that the SIMD
// and portable kernels pick the same bits.)
func TestSIMDMinMaxSpecials(t *testing.T) {
	const (
		pz, nz     = 0x00000000, 0x80000000
		one        = 0x3f800000
		nanA, nanB = 0x7fc00001, 0xffc00002
		anyNaN     = 0x7fffffff // stands for any NaN in the table
	)
	tests := []struct {
		name string
		op   Op
		x, y uint32
		want uint32
	}{
		{"min(+0, -0)", Min, pz, nz, nz},
		{"min(-0, +0)", Min, nz, pz, nz},
		{"min(+0, +0)", Min, pz, pz, pz},
		{"max(+0, -0)", Max, pz, nz, pz},
		{"max(-0, +0)", Max, nz, pz, pz},
		{"max(-0, -0)", Max, nz, nz, nz},
		{"min(NaN, 1)", Min, nanA, one, anyNaN},
		{"min(1, NaN)", Min, one, nanB, anyNaN},
		{"min(NaN, NaN)", Min, nanA, nanB, anyNaN},
		{"min(-0, NaN)", Min, nz, nanA, anyNaN},
		{"max(NaN, 1)", Max, nanA, one, anyNaN},
		{"max(1, NaN)", Max, one, nanB, anyNaN},
		{"max(NaN, NaN)", Max, nanA, nanB, anyNaN},
		{"max(NaN, -0)", Max, nanB, nz, anyNaN},
	}
	for _, tt := range tests {
		for _, n := range []int{1, 8, 13, 40} {
			for lane := range n {
				x, y := make([]uint32, n), make([]uint32, n)
				for i := range n {
					x[i], y[i] = one+uint32(i), one+uint32(i)
				}
				x[lane], y[lane] = tt.x, tt.y
				dst, src := AsBytes(f32sFromBits(x)), AsBytes(f32sFromBits(y))
				Apply(tt.op, Float32, dst, src)
				got := binary.LittleEndian.Uint32(dst[4*lane:])
				if tt.want == anyNaN && !isNaN(Float32, dst[4*lane:]) || tt.want != anyNaN && got != tt.want {
					t.Errorf("%s in lane %d of %d: Apply(%v, Float32) = %#x; want %#x", tt.name, lane, n, tt.op, got, tt.want)
				}
				for i := range n {
					if i != lane && binary.LittleEndian.Uint32(dst[4*i:]) != one+uint32(i) {
						t.Errorf("%s in lane %d of %d: Apply(%v, Float32) changed lane %d", tt.name, lane, n, tt.op, i)
					}
				}
			}
		}
	}
}

func f32sFromBits(u []uint32) []float32 {
	f := make([]float32, len(u))
	for i, v := range u {
		binary.LittleEndian.PutUint32(AsBytes(f[i:i+1]), v)
	}
	return f
}

// TestSIMDOff runs this package's Apply tests again in a child process with
// KIZUNA_SIMD=off, so that Apply itself takes the portable path, and checks
// there that the knob took effect.
func TestSIMDOff(t *testing.T) {
	if os.Getenv("KIZUNA_SIMD_CHILD") == "1" {
		if got := SIMD(); got != "" {
			t.Fatalf("with KIZUNA_SIMD=%q: SIMD() = %q; want \"\"", os.Getenv("KIZUNA_SIMD"), got)
		}
		return
	}
	if testing.Short() {
		t.Skip("runs a child test process")
	}
	cmd := exec.Command(os.Args[0], "-test.count=1",
		"-test.run=^(TestSIMDOff|TestSIMDAgainstOracle|TestSIMDMinMaxSpecials|TestApplyRandom|TestApplyEdgeCases|TestFinishEdgeCases|TestFinishRandom|TestReference)$")
	cmd.Env = append(os.Environ(), "KIZUNA_SIMD=off", "KIZUNA_SIMD_CHILD=1")
	out, err := cmd.CombinedOutput()
	if errors.Is(err, syscall.ENOEXEC) {
		// A binary for another architecture run under user-mode emulation
		// (qemu-aarch64 ./reduce.test) cannot start itself.
		t.Skipf("cannot run the test binary as a child: %v", err)
	}
	if err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("tests with KIZUNA_SIMD=off: %v\n%s", err, out)
	}
}

// simdMismatch returns the index of the first element where got and want,
// results of combining a and b, differ in their bits, unless a, b, got and
// want are all NaN there; or -1.
func simdMismatch(dt DType, a, b, got, want []byte) int {
	size := dt.Size()
	for i := range len(want) / size {
		e := func(buf []byte) []byte { return buf[i*size : (i+1)*size] }
		if bytes.Equal(e(got), e(want)) {
			continue
		}
		if !(isNaN(dt, e(a)) && isNaN(dt, e(b)) && isNaN(dt, e(got)) && isNaN(dt, e(want))) {
			return i
		}
	}
	return -1
}

// elemBits returns element i of buf as an integer, for messages.
func elemBits(dt DType, buf []byte, i int) uint64 {
	var w [8]byte
	copy(w[:], buf[i*dt.Size():(i+1)*dt.Size()])
	return binary.LittleEndian.Uint64(w[:])
}

// FuzzSIMD compares Apply with the portable kernels on arbitrary bytes, at
// arbitrary offsets; the bits must match as in TestSIMDMatchesPortable.
func FuzzSIMD(f *testing.F) {
	f.Add(uint8(Min), uint8(Float32), uint8(0), bytes.Repeat([]byte{0, 0, 0, 0x80, 0, 0, 0xc0, 0x7f}, 9))
	f.Add(uint8(Sum), uint8(BFloat16), uint8(1), bytes.Repeat([]byte{0x81, 0x3f, 0x80, 0xff, 1, 0}, 13))
	f.Add(uint8(Prod), uint8(Float16), uint8(3), bytes.Repeat([]byte{0x01, 0x3c, 0xff, 0x7b, 0x00, 0x7e}, 11))
	f.Add(uint8(Max), uint8(Int64), uint8(2), bytes.Repeat([]byte{0xff, 0, 0, 0, 0, 0, 0, 0x80}, 10))
	f.Fuzz(func(t *testing.T, opv, dtv, off uint8, data []byte) {
		op, dt := Op(opv%uint8(Avg))+Sum, DType(dtv%uint8(Int64))+Float32
		size := dt.Size()
		n := len(data) / (2 * size)
		a, b := data[:n*size], data[n*size:2*n*size]
		got, src := alignedCopy(a, int(off%8)), alignedCopy(b, int(off/8%8))
		Apply(op, dt, got, src)
		want := alignedCopy(a, 0)
		if n > 0 {
			scalarKernels[op][dt](want, alignedCopy(b, 0))
		}
		if i := simdMismatch(dt, a, b, got, want); i >= 0 {
			t.Fatalf("Apply(%v, %v) of %d elements: element %d = %s op %s = %#x; want %#x", op, dt, n, i,
				Format(dt, a, i), Format(dt, b, i), elemBits(dt, got, i), elemBits(dt, want, i))
		}
	})
}
